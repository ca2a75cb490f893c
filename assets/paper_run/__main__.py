from assets.paper_run.runner import main

raise SystemExit(main())
