from oneclaim.cli import main

main()
