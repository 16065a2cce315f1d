//! The `atomvae simulate` command as a user runs it: outputs, determinism, errors,
//! and that an interrupted or killed run never damages the file it replaces.

mod common;

use std::path::Path;

use common::{atomvae, interrupt, stderr};

fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert_eq!((10 + header_len) % 64, 0, "data aligned to 64 bytes");
    let shape_txt = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> =
        shape_txt.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    let data = bytes[10 + header_len..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (shape, data)
}

#[test]
fn help_documents_every_parameter_with_its_unit() {
    let out = atomvae(&["simulate", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["--frames", "--size <H> <W>", "--seed", "--out", "Å/px", "(Å)", "counts", "(px)", "rad", "Å/frame"]
    {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn npy_output_is_deterministic_and_seed_dependent() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    for (name, seed) in [("a.npy", "3"), ("b.npy", "3"), ("c.npy", "4")] {
        let out = atomvae(&[
            "-q",
            "simulate",
            "--frames",
            "2",
            "--size",
            "96",
            "128",
            "--holes",
            "0",
            "--seed",
            seed,
            "--out",
            p(name).to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (a, b, c) =
        (std::fs::read(p("a.npy")).unwrap(), std::fs::read(p("b.npy")).unwrap(), std::fs::read(p("c.npy")).unwrap());
    assert_eq!(a, b, "same seed, same bytes");
    assert_ne!(a, c, "another seed, another movie");
    let (shape, data) = read_npy_f32(&p("a.npy"));
    assert_eq!(shape, vec![2, 96, 128]);
    assert_eq!(data.len(), 2 * 96 * 128);
    assert!(data.iter().all(|v| v.is_finite()));
    let csv = std::fs::read_to_string(p("a.atoms.csv")).unwrap();
    assert!(csv.starts_with("frame,y,x,class,z,grain,sublattice\n"));
    assert!(csv.lines().count() > 100);
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(p("a.meta.json")).unwrap()).unwrap();
    assert_eq!(meta["pixel_size"], 0.104);
}

#[test]
fn tiff_and_hdf5_hold_the_same_frames_as_npy() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["-q", "simulate", "--frames", "3", "--size", "64", "80", "--seed", "9", "--out"];
    for name in ["m.npy", "m.tif", "m.h5"] {
        let path = dir.path().join(name);
        let mut a = args.to_vec();
        a.push(path.to_str().unwrap());
        let out = atomvae(&a);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }
    let (_, reference) = read_npy_f32(&dir.path().join("m.npy"));

    let mut decoder = tiff::decoder::Decoder::new(std::fs::File::open(dir.path().join("m.tif")).unwrap()).unwrap();
    let mut pages = Vec::new();
    loop {
        assert_eq!(decoder.dimensions().unwrap(), (80, 64));
        match decoder.read_image().unwrap() {
            tiff::decoder::DecodingResult::F32(v) => pages.extend(v),
            other => panic!("pages should be 32-bit float, got {:?}", std::mem::discriminant(&other)),
        }
        if !decoder.more_images() {
            break;
        }
        decoder.next_image().unwrap();
    }
    assert_eq!(pages, reference);

    let file = hdf5::File::open(dir.path().join("m.h5")).unwrap();
    let frames = file.dataset("frames").unwrap();
    assert_eq!(frames.shape(), vec![3, 64, 80]);
    assert_eq!(frames.read_raw::<f32>().unwrap(), reference);
    assert_eq!(file.attr("schema_version").unwrap().read_scalar::<u32>().unwrap(), 1);
    assert_eq!(file.attr("pixel_size_angstrom").unwrap().read_scalar::<f64>().unwrap(), 0.104);
    let ys = file.dataset("truth/atoms/y").unwrap().read_raw::<f32>().unwrap();
    let frame_of = file.dataset("truth/atoms/frame").unwrap().read_raw::<u32>().unwrap();
    assert_eq!(ys.len(), frame_of.len());
    assert!(frame_of.contains(&0) && frame_of.contains(&2));
    assert_eq!(file.dataset("truth/labels").unwrap().shape(), vec![3, 64, 80]);
}

#[test]
fn bad_input_gets_a_clear_error_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("x.h5");
    let out = out_path.to_str().unwrap();
    let blocker = dir.path().join("plain-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let under_file = blocker.join("x.h5");
    let png = dir.path().join("x.png");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--size", "0", "64", "--out", out], "frame height must be a positive number of pixels"),
        (vec!["--size", "64", "-5", "--out", out], "frame width must be a positive number of pixels"),
        (vec!["--pixel-size", "0.8", "--out", out], "cannot resolve the graphene lattice"),
        (vec!["--dose", "-1", "--out", out], "dose must be ≥ 0"),
        (vec!["--frames", "0", "--out", out], "at least one frame"),
        (vec!["--out", "/nonexistent-dir/x.h5"], "its folder does not exist"),
        (vec!["--out", under_file.to_str().unwrap()], "cannot"),
        (vec!["--out", png.to_str().unwrap()], "unknown file type"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["simulate"];
        if !args.contains(&"--size") {
            full.extend(["--size", "64", "64"]);
        }
        full.extend(args.iter().copied());
        let o = atomvae(&full);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: expected {expected:?} in {err}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("plain-file")], "nothing else written");
}

fn interrupt_run(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("movie.npy");
    std::fs::write(&target, b"previous result").unwrap();
    let args = ["-q", "simulate", "--frames", "400", "--size", "512", "512", "--out", target.to_str().unwrap()];
    let names = interrupt(&args, dir.path(), 3 * 512 * 512 * 4, signal);
    assert_eq!(std::fs::read(&target).unwrap(), b"previous result", "the old file must survive");
    let visible: Vec<&String> = names.iter().filter(|n| !n.starts_with('.')).collect();
    assert_eq!(visible, vec!["movie.npy"], "no partial file under a real name");
    if signal == "-INT" {
        assert_eq!(names, vec!["movie.npy".to_string()], "Ctrl-C cleans its temporary files");
    }
}

#[test]
fn a_killed_writer_leaves_the_previous_file_intact() {
    interrupt_run("-KILL");
}

#[test]
fn ctrl_c_stops_cleanly_and_keeps_the_previous_file() {
    interrupt_run("-INT");
}
