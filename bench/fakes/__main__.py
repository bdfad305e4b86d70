from bench.fakes.upstream import main

main()
