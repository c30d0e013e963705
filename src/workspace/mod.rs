//! The workspace substrate: everything Millrace keeps under `<workspace>/millrace-agents/`.
