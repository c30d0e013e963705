//! The page's assets, embedded in the binary (no CDN; works offline):
//! hand-written HTML, CSS and JavaScript under `src/web/assets/`.

pub const INDEX_HTML: &str = include_str!("assets/index.html");
pub const APP_CSS: &str = include_str!("assets/app.css");
pub const APP_JS: &str = include_str!("assets/app.js");
