from dispatch.outbox.cli import main

raise SystemExit(main())
