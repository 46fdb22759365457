//! The OCI image `image/build.sh` makes, packed from the debug binaries this test run built (the
//! release build takes minutes; the script and the root filesystem are the same): the archive is an
//! OCI layout whose image runs as 65532 with the labels, and inside its root filesystem, as UID 65532
//! with the root read-only, `gko --version`, `certs-tool --version` and `gko validate` on the examples
//! work. Skipped (with the reason) without umoci / the Debian packages, or when not root (the
//! read-only root is a bind mount in a private mount namespace).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The debug binaries of this build: gko from Cargo, certs-tool beside it (built by `--workspace`).
fn bin_dir() -> Option<PathBuf> {
    let gko = PathBuf::from(env!("CARGO_BIN_EXE_gko"));
    let dir = gko.parent()?.to_owned();
    dir.join("certs-tool").is_file().then_some(dir)
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    let (algo, hex) = digest.split_once(':').expect("digest algo:hex");
    layout.join("blobs").join(algo).join(hex)
}

fn json_file(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `sh -c script` in a private mount namespace (as root).
fn in_namespace(script: &str) -> Output {
    run(Command::new("unshare").args(["--mount", "--propagation", "private", "sh", "-euc", script]))
}

#[test]
fn image_runs_as_nonroot_on_a_read_only_root() {
    let Some(bins) = bin_dir() else {
        println!("skipped: certs-tool is not built beside gko (run cargo test --workspace)");
        return;
    };
    if !is_root() {
        println!("skipped: not root (a read-only bind mount of the image's root needs a mount namespace)");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let archive = work.path().join("gko.oci.tar");
    let built = run(Command::new(repo().join("image/build.sh"))
        .arg("--bin-dir")
        .arg(&bins)
        .arg("--out")
        .arg(&archive)
        .current_dir(repo()));
    if built.status.code() == Some(69) {
        println!(
            "skipped: image/build.sh cannot run here: {}",
            String::from_utf8_lossy(&built.stderr).trim()
        );
        return;
    }
    assert!(
        built.status.success(),
        "image/build.sh failed\n{}",
        text(&built)
    );
    let reference = String::from_utf8_lossy(&built.stdout).trim().to_owned();

    // The reference is the chart's default image.
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(reference, format!("gko:{version}"));
    let chart = std::fs::read_to_string(repo().join("charts/gko/Chart.yaml")).expect("Chart.yaml");
    assert!(
        chart
            .lines()
            .any(|l| l.trim() == format!("appVersion: \"{version}\"")),
        "Chart.yaml's appVersion is the crate version {version}"
    );
    let values = std::fs::read_to_string(repo().join("charts/gko/values.yaml")).expect("values");
    assert!(values.contains("  repository: gko\n") && values.contains("  tag: \"\"\n"));

    // The OCI layout: index -> manifest -> config and gzip layers.
    let layout = work.path().join("layout");
    std::fs::create_dir_all(&layout).expect("mkdir");
    let untar = run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout));
    assert!(untar.status.success(), "{}", text(&untar));
    assert_eq!(
        json_file(&layout.join("oci-layout"))["imageLayoutVersion"],
        "1.0.0"
    );
    let index = json_file(&layout.join("index.json"));
    let entry = &index["manifests"][0];
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        version
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        format!("docker.io/library/gko:{version}")
    );
    let manifest = json_file(&blob(&layout, entry["digest"].as_str().expect("digest")));
    let config = json_file(&blob(
        &layout,
        manifest["config"]["digest"].as_str().expect("config"),
    ));
    assert_eq!(config["config"]["User"], "65532:65532");
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], version);
    assert_eq!(labels["org.opencontainers.image.title"], "gko");
    assert!(labels["org.opencontainers.image.revision"].is_string());
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.iter().any(|e| e.starts_with("PATH=/usr/local/bin")),
        "{env:?}"
    );

    let rootfs = work.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).expect("mkdir");
    for layer in manifest["layers"].as_array().expect("layers") {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let path = blob(&layout, layer["digest"].as_str().expect("layer digest"));
        let x = run(Command::new("tar")
            .arg("-xzf")
            .arg(&path)
            .arg("-C")
            .arg(&rootfs));
        assert!(x.status.success(), "{}", text(&x));
    }
    for needed in [
        "usr/local/bin/gko",
        "usr/local/bin/certs-tool",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
    ] {
        assert!(rootfs.join(needed).is_file(), "{needed} in the image");
    }
    let bundle =
        std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).expect("bundle");
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 100,
        "the public roots are bundled"
    );
    let size: u64 = std::fs::metadata(&archive).expect("archive").len();
    println!(
        "image archive: {} MiB (debug binaries, stripped)",
        size / (1 << 20)
    );

    // Run inside: root read-only, /tmp a tmpfs, the examples mounted read-only, UID/GID 65532.
    let root = rootfs.display();
    let examples = repo().join("examples");
    let script = format!(
        "mount --bind {root} {root}; mount -o remount,bind,ro {root}; \
         mount -t tmpfs -o size=16m tmpfs {root}/tmp; mkdir {root}/tmp/examples; \
         mount --bind -o ro {ex} {root}/tmp/examples; \
         chroot=$(command -v chroot); \
         as() {{ env -i PATH=/usr/local/bin:/usr/bin:/bin \"$chroot\" --userspec=65532:65532 {root} \"$@\"; }}; \
         as gko --version; as certs-tool --version; \
         as gko validate -f /tmp/examples/valid; echo valid-exit=$?; \
         set +e; as gko validate -f /tmp/examples/invalid >/dev/null; echo invalid-exit=$?; \
         touch {root}/usr/local/bin/written 2>/dev/null; echo root-write=$?; \
         as gko validate -f /tmp/none >/dev/null 2>&1; echo missing-exit=$?",
        ex = examples.display()
    );
    let out = in_namespace(&script);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("gko {version}")), "{shown}");
    assert!(stdout.contains("certs-tool "), "{shown}");
    assert!(stdout.contains("valid-exit=0"), "{shown}");
    assert!(
        stdout.contains("invalid-exit=1"),
        "the invalid examples are denied: {shown}"
    );
    assert!(
        stdout.contains("root-write=1"),
        "the root is read-only: {shown}"
    );
    assert!(stdout.contains("missing-exit=2"), "{shown}");
}
