from paper_run.runner import main

raise SystemExit(main())
