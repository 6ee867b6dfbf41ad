from ferry.cli.kubectl import main

main()
