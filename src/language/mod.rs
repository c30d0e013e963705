//! The `.mill` language: syntax (pest → AST), loading with imports, name
//! resolution and checks (coded miette diagnostics), and the bounded-cycle
//! analysis. `compile_sources` is the one entry point the rest of the crate uses.

pub mod error;
pub use error::Error;
pub mod ast;
pub mod bounds;
pub mod check;
pub mod diagnostic;
pub mod format;
pub mod load;
pub mod model;
pub mod parse_hints;
pub mod source;
pub mod syntax;

use check::Checked;
use load::{Loader, Program, StdRoot};

/// Load and check every shipped `.mill` file (the embedded stdlib and modes).
pub fn check_shipped() -> (Program, Checked) {
    let mut loader = Loader::new(StdRoot::Embedded);
    loader.load_embedded_all();
    let program = loader.finish();
    let checked = check::check(&program);
    (program, checked)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_sources_check_clean() {
        let (program, checked) = super::check_shipped();
        let rendered: Vec<String> = checked
            .diagnostics
            .iter()
            .map(|d| super::diagnostic::render_human(d, &program.sources, false))
            .collect();
        assert!(checked.diagnostics.is_empty(), "{}", rendered.join("\n"));
        assert_eq!(checked.model.stages.len(), 15);
        assert_eq!(checked.model.loops.len(), 3);
        for m in [
            "default_codex",
            "default_pi",
            "learning_codex",
            "learning_pi",
            "demo",
        ] {
            assert!(checked.model.modes.contains_key(m), "missing mode {m}");
        }
        assert_eq!(
            checked
                .model
                .resolve_mode("standard_plain")
                .map(|m| m.id.as_str()),
            Some("default_codex")
        );
    }
}
