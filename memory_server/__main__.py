from memory_server.launcher import main

main()
