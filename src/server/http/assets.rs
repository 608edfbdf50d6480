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
//! (`docs/ARCHITECTURE.md`, ledger: settings). Event streams never are.

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::Response,
};
use leptos::{WasmSplitManifest, nonce::use_nonce, prelude::*};
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
pub fn stylesheet(options: &LeptosOptions) -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let name = match hashes(options).get("css") {
            Some(hash) => format!("{}.{hash}", options.output_name),
            None => options.output_name.to_string(),
        };
        format!("/{}/{name}.css", options.site_pkg_dir)
    })
}

/// What the page's `<head>` loads the app with: Leptos's `HydrationScripts`, written
/// from names worked out once per process.
///
/// Leptos's component finds the binary's path, checks that `hash.txt` is there and reads
/// it again on every page it renders: three system calls and a file read per page
/// (without them, `chat-bench page` renders 1.08× the pages; `docs/ARCHITECTURE.md`,
/// ledger 2). The names
/// cannot change while the server runs (the files are the build's), so here they come
/// from [`hashes`], read once. What is written is what Leptos writes (its script, at
/// `leptos/src/hydration/hydration_script.js` of 0.8, not deferred, outside islands
/// mode), and the split manifest is put in context as Leptos does, for `#[lazy]` code
/// that runs on the server to preload its piece.
pub fn hydration_scripts(options: &LeptosOptions) -> impl IntoView + use<> {
    if let Some(manifest) = split_manifest(options) {
        provide_context(manifest.clone());
    }
    let HeadScripts { js, wasm, script } = head_scripts(options);
    let nonce = use_nonce();
    let wasm_crossorigin = nonce.as_ref().map_or_else(String::new, ToString::to_string);
    view! {
        <link rel="modulepreload" href=js crossorigin=nonce.clone() />
        <link
            rel="preload"
            href=wasm
            r#as="fetch"
            r#type="application/wasm"
            crossorigin=wasm_crossorigin
        />
        <script type="module" nonce=nonce>
            {script}
        </script>
    }
}

/// The main JS's and WASM's URLs, and the inline script that loads them and hydrates.
struct HeadScripts {
    js: &'static str,
    wasm: &'static str,
    script: &'static str,
}

fn head_scripts(options: &LeptosOptions) -> HeadScripts {
    static NAMES: OnceLock<(String, String, String)> = OnceLock::new();
    let (js, wasm, script) = NAMES.get_or_init(|| {
        let root = asset_root(options);
        let pkg = options.site_pkg_dir.as_ref();
        let (js, wasm) = main_file_names(options, hashes(options));
        let script = format!("{HYDRATION_SCRIPT}({root:?}, {pkg:?}, {js:?}, {wasm:?}, false);");
        (
            format!("{root}/{pkg}/{js}.js"),
            format!("{root}/{pkg}/{wasm}.wasm"),
            script,
        )
    });
    HeadScripts { js, wasm, script }
}

/// Leptos 0.8's `hydration_script.js`: imports the JS glue, instantiates the WASM, and
/// calls `hydrate`.
const HYDRATION_SCRIPT: &str = r#"(function (root, pkg_path, output_name, wasm_output_name, defer) {
	const hydrate = () =>
		import(`${root}/${pkg_path}/${output_name}.js`)
			.then(mod => {
				mod.default({module_or_path: `${root}/${pkg_path}/${wasm_output_name}.wasm`}).then(() => {
					mod.hydrate();
				});
			});
	if (defer && "requestIdleCallback" in window) {
		// `timeout` is a backstop: a never-idle page would otherwise stay dead
		window.requestIdleCallback(hydrate, { timeout: 2000 });
	} else {
		hydrate();
	}
})
"#;

/// The main JS's and WASM's names without their extensions, as Leptos names them: after
/// their hashes in a hashed build, else the output name (the WASM's with `_bg` when not
/// built by cargo-leptos).
fn main_file_names(options: &LeptosOptions, hashes: &HashMap<String, String>) -> (String, String) {
    let name = |kind: &str| {
        let mut name = options.output_name.to_string();
        if options.hash_files {
            if let Some(hash) = hashes.get(kind) {
                name.push('.');
                name.push_str(hash);
            }
        } else if kind == "wasm" && option_env!("LEPTOS_OUTPUT_NAME").is_none() {
            name.push_str("_bg");
        }
        name
    };
    (name("js"), name("wasm"))
}

/// The split WASM's manifest, as Leptos's `HydrationScripts` provides it: which pieces
/// each `#[lazy]` function needs, and the loader's name. `None` for a build without
/// `--split`.
fn split_manifest(options: &LeptosOptions) -> Option<&'static WasmSplitManifest> {
    static MANIFEST: OnceLock<Option<WasmSplitManifest>> = OnceLock::new();
    MANIFEST
        .get_or_init(|| {
            let hashes = hashes(options);
            let (split, manifest) = if options.hash_files {
                (
                    format!("__wasm_split.{}.js", hashes.get("split")?),
                    format!("__wasm_split_manifest.{}.json", hashes.get("manifest")?),
                )
            } else {
                (
                    "__wasm_split.______________________.js".to_owned(),
                    "__wasm_split_manifest.json".to_owned(),
                )
            };
            let pkg = options.site_pkg_dir.as_ref();
            let path = Path::new(options.site_root.as_ref())
                .join(pkg)
                .join(manifest);
            let pieces = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
            let root = asset_root(options);
            Some(WasmSplitManifest(ArcStoredValue::new((
                format!("{root}/{pkg}"),
                pieces,
                split,
            ))))
        })
        .as_ref()
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
    fn the_page_loads_the_app_as_leptos_would() {
        use leptos::prelude::{Owner, RenderHtml};
        // An unhashed build (the test's options), where Leptos reads no file either.
        let options = LeptosOptions::builder().output_name("tiny-chat").build();
        let ours = Owner::new().with(|| hydration_scripts(&options).to_html());
        let leptos = Owner::new().with(|| {
            leptos::hydration::HydrationScripts(
                leptos::hydration::HydrationScriptsProps::builder()
                    .options(options.clone())
                    .root(asset_root(&options))
                    .build(),
            )
            .to_html()
        });
        assert_eq!(ours, leptos);
        assert!(ours.contains("tiny-chat_bg.wasm"), "{ours}");
    }

    #[test]
    fn a_hashed_build_names_the_main_files_after_their_hashes() {
        let options = LeptosOptions::builder()
            .output_name("tiny-chat")
            .hash_files(true)
            .build();
        let hashes = parse_hashes("js: J1\nwasm: W2\ncss: C3\n");
        assert_eq!(
            main_file_names(&options, &hashes),
            ("tiny-chat.J1".to_owned(), "tiny-chat.W2".to_owned())
        );
    }

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
