from capibara6.cli import main

raise SystemExit(main())
