"""Sub-shop plans (the SaaS side): what a shop may do, and paying for it."""
