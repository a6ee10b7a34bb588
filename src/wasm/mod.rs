//! The wasm-bindgen shell (see STYLE.md): no policy lives here.
