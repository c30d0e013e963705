//! The result surface check shared by the engine and the simulator: is an
//! outcome, with its result class, something this node may return? The
//! engine turns a refusal into `illegal_terminal_result` (`engine/apply.rs`);
//! `millrace test` (`runtime/simulate.rs`) applies the same rule.

use crate::plan::ir::CompiledNode;

/// `Ok` when `node` may return `outcome` with `result_class`; otherwise
/// `IllegalResult`, whose message is the note the runtime records.
pub fn check(node: &CompiledNode, outcome: &str, result_class: &str) -> Result<(), super::Error> {
    match node.classes_for(outcome) {
        Some(classes) if classes.iter().any(|c| c == result_class) => Ok(()),
        _ => Err(super::Error::IllegalResult {
            node: node.node_id.clone(),
            outcome: outcome.to_string(),
            class: result_class.to_string(),
        }),
    }
}

/// The class a stage reports with a legal outcome when it names none: its
/// only allowed class; of several, `blocked` when allowed, else the first.
pub fn default_class(node: &CompiledNode, outcome: &str) -> Option<String> {
    let classes = node.classes_for(outcome)?;
    match classes {
        [] => None,
        [only] => Some(only.clone()),
        many => Some(
            many.iter()
                .find(|c| *c == "blocked")
                .unwrap_or(&many[0])
                .clone(),
        ),
    }
}
