"""HTTP edge: thin routes that validate, call one service method and shape the answer."""
