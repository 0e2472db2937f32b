from trackerbridge.cli import main

main()
