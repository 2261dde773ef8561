//! Computes `VNEID_BUILD_ID`: a hash of every source the `gateway` binary is built from (the
//! workspace's `src` folders, migrations, manifests and `Cargo.lock`). `gateway --version`
//! prints it, and the end-to-end tests compare it with the one compiled into themselves, so a
//! binary built from other sources than the tests cannot pass unnoticed.

use std::fs;
use std::path::{Path, PathBuf};

/// FNV-1a, 64 bits: an identifier, not a protection.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("..");
    // What the binary is built from; tests, benches and docs are left out so that editing a
    // test does not rebuild the gateway.
    let mut inputs = vec![
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        manifest.join("Cargo.toml"),
        manifest.join("src"),
    ];
    if let Ok(crates) = fs::read_dir(root.join("crates")) {
        let mut crates: Vec<_> = crates.flatten().map(|e| e.path()).collect();
        crates.sort();
        for krate in crates {
            for part in ["Cargo.toml", "src", "migrations"] {
                let path = krate.join(part);
                if path.exists() {
                    inputs.push(path);
                }
            }
        }
    }
    let mut files = Vec::new();
    for input in &inputs {
        println!("cargo:rerun-if-changed={}", input.display());
        if input.is_dir() {
            files_under(input, &mut files);
        } else {
            files.push(input.clone());
        }
    }
    files.sort();
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file);
        hash.write(relative.to_string_lossy().as_bytes());
        hash.write(&[0]);
        hash.write(&fs::read(file).unwrap_or_default());
        hash.write(&[0]);
    }
    println!("cargo:rustc-env=VNEID_BUILD_ID={:016x}", hash.0);
}
