//! The `.mill` language: syntax (pest → AST), name resolution and checks
//! (coded miette diagnostics), and the bounded-cycle analysis.
