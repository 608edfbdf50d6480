//! The built files under `/pkg/`: the WASM, its JS glue and the stylesheet.
//!
//! A release build (`cargo leptos build --release --precompress --split`, with `hash-files` in
//! Cargo.toml) names each file after a hash of its content, and writes a `.br` and a
//! `.gz` copy next to it. tower-http's `ServeDir` sends the copy the browser accepts
//! (`Vary: Accept-Encoding`), and the file as it is to a browser that accepts neither.
//! A hashed file is cached for a year as immutable: a new build has new names, and the
//! HTML that names them is never served from a cache (`no-cache`), so a page is never
//! paired with another build's WASM. Unhashed files (a development build) are
//! revalidated every time.
//!
//! With `--split` (which every build in this repo passes), the WASM is cut in pieces: the
//! main module, and files fetched later by a loader, `__wasm_split.<hash>.js`, for the
//! functions marked `#[lazy]`. cargo-leptos names the main JS and WASM after their
//! content *before* it writes the loader's name into them, so a change in lazy code alone
//! leaves their names as they were over new content: a browser holding last build's copy
//! for a year would ask for pieces that are gone. So the page loads the main JS, the WASM
//! and the loader from [`asset_root`]`/pkg/`, a path named after the hashes of all three
//! (which the loader's own hash follows from the pieces'), served by the same files.
//!
//! Only these files are precompressed. Pages and JSON are not compressed on the fly:
//! they are small next to the WASM, and compressing each answer costs server time
//! (BENCHMARKS.md, issue 11). Event streams never are.

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::Response,
};
use leptos::prelude::LeptosOptions;
use std::{collections::HashMap, path::Path, sync::OnceLock};
use tower_http::services::ServeDir;

/// How a hashed file is cached: a year, never revalidated.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// How an unhashed file is cached: revalidated every time.
pub const NO_CACHE: &str = "no-cache";
/// How a page is cached: revalidated every time, and only by the browser (a page
/// shows who is signed in).
pub const PAGE_CACHE: &str = "private, no-cache";

/// Whether this binary was built by cargo-leptos with hashed file names (it sets
/// `LEPTOS_HASH_FILES` while compiling the server).
pub fn built_with_hashes() -> bool {
    option_env!("LEPTOS_HASH_FILES") == Some("true")
}

/// The hashes cargo-leptos wrote next to the server binary (`hash.txt`, as Leptos's
/// `HydrationScripts` reads it): `js`, `wasm` and `css`, each to its file's hash.
fn hashes(options: &LeptosOptions) -> &'static HashMap<String, String> {
    static HASHES: OnceLock<HashMap<String, String>> = OnceLock::new();
    HASHES.get_or_init(|| {
        if !options.hash_files {
            return HashMap::new();
        }
        let path = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(options.hash_file.as_ref())));
        let text = path
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        parse_hashes(&text)
    })
}

fn parse_hashes(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (kind, hash) = line.split_once(':')?;
            Some((kind.trim().to_owned(), hash.trim().to_owned()))
        })
        .filter(|(_, hash)| !hash.is_empty())
        .collect()
}

/// Where this build's main JS, WASM and split loader are served from, before
/// `/pkg/`: `/v/<build>` with `<build>` named after their hashes (the module doc says
/// why), or nothing for a build without hashed names. The page asks for them there
/// (`HydrationScripts`'s `root`), and relative URLs inside them (the loader, the lazy
/// pieces) stay under it.
pub fn asset_root(options: &LeptosOptions) -> &'static str {
    static ROOT: OnceLock<String> = OnceLock::new();
    ROOT.get_or_init(|| build_root(hashes(options)))
}

fn build_root(hashes: &HashMap<String, String>) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use sha2::{Digest, Sha256};
    if !hashes.contains_key("js") {
        return String::new();
    }
    let mut digest = Sha256::new();
    for kind in ["js", "wasm", "split"] {
        let hash = hashes.get(kind).map_or("", String::as_str);
        digest.update(format!("{kind}:{hash}\n"));
    }
    let build = URL_SAFE_NO_PAD.encode(&digest.finalize()[..12]);
    format!("/v/{build}")
}

/// The stylesheet's URL: `/pkg/tiny-chat.<hash>.css` when hashed.
pub fn stylesheet(options: &LeptosOptions) -> String {
    let name = match hashes(options).get("css") {
        Some(hash) => format!("{}.{hash}", options.output_name),
        None => options.output_name.to_string(),
    };
    format!("/{}/{name}.css", options.site_pkg_dir)
}

/// Serves `/pkg/`: precompressed where the browser accepts it, immutable when hashed.
pub fn pkg(options: &LeptosOptions) -> Router {
    let dir = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    let cache = if options.hash_files {
        IMMUTABLE
    } else {
        NO_CACHE
    };
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            cache_control(request, next, cache)
        }))
}

/// Caches what was found as `cache` says; a miss (`404`) is not cached.
async fn cache_control(request: Request, next: Next, cache: &'static str) -> Response {
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status().is_redirection() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_file_names_each_kind_of_file() {
        let hashes = parse_hashes("js: abc\nwasm: d-e_f\ncss: 123\nbroken\nempty:\n");
        assert_eq!(hashes["js"], "abc");
        assert_eq!(hashes["wasm"], "d-e_f");
        assert_eq!(hashes["css"], "123");
        assert_eq!(hashes.len(), 3);
    }

    #[test]
    fn the_build_root_follows_the_main_files_and_the_split_loader() {
        let root = |text: &str| build_root(&parse_hashes(text));
        let build = "js: a\nwasm: b\ncss: c\nsplit: d\n";
        assert!(root(build).starts_with("/v/"), "{}", root(build));
        assert_eq!(root(build).len(), "/v/".len() + 16);
        // The stylesheet has its own hashed name: a change of style alone keeps the
        // WASM cached.
        assert_eq!(root(build), root("js: a\nwasm: b\ncss: other\nsplit: d\n"));
        for changed in [
            "js: A\nwasm: b\ncss: c\nsplit: d\n",
            "js: a\nwasm: B\ncss: c\nsplit: d\n",
            // Only lazy code changed: the loader's hash is all that moves.
            "js: a\nwasm: b\ncss: c\nsplit: D\n",
            "js: a\nwasm: b\ncss: c\n",
        ] {
            assert_ne!(root(build), root(changed), "{changed}");
        }
        // A development build: no hashes, no root.
        assert_eq!(root(""), "");
    }
}
