//! The pure-Rust checkpoint reader (no libtorch) on the `torch.save` files the fixture generator
//! wrote with torch 2.11, and on damaged and hostile bytes.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_torch::checkpoint::{self, Kind};

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated/resnet18");
    assert!(
        dir.join("state_dict.pth").is_file(),
        "{} has no PyTorch checkpoints: run `cargo xtask fixtures`",
        dir.display()
    );
    dir
}

#[test]
fn every_torch_save_variant_reads_as_the_safetensors_weights() {
    let dir = dir();
    let reference = checkpoint::read(&dir.join("weights.safetensors")).unwrap();
    assert_eq!(reference.container, None);
    // torchvision's resnet18 state dict: 62 parameters + 40 BatchNorm buffers + 20 counters.
    assert_eq!(reference.tensors.len(), 122);
    assert_eq!(reference.tensors[0].0, "conv1.weight");
    assert_eq!(reference.tensors[0].1.shape(), &[64, 3, 7, 7]);
    for (file, container, stripped) in [
        ("state_dict.pth", None, false),
        ("checkpoint_state_dict.pth", Some("state_dict"), false),
        ("checkpoint_model.pth", Some("model"), false),
        ("dataparallel.pth", None, true),
    ] {
        let c = checkpoint::read(&dir.join(file)).unwrap();
        assert_eq!(checkpoint::sniff(&dir.join(file)).unwrap(), Kind::TorchSave);
        assert_eq!(c.container.as_deref(), container, "{file}");
        assert_eq!(c.stripped_module_prefix, stripped, "{file}");
        // Same names in the same (state dict) order, bit-identical values.
        assert_eq!(c.tensors, reference.tensors, "{file}");
    }
    let bn = reference.tensors.iter().find(|(n, _)| n == "bn1.num_batches_tracked").unwrap();
    assert_eq!(bn.1.dtype(), infer_core::DType::I64);
    assert_eq!(checkpoint::sniff(&dir.join("model.torchscript.pt")).unwrap(), Kind::TorchScript);
    let err = checkpoint::read(&dir.join("model.trace.pt")).unwrap_err().to_string();
    assert!(err.contains("model.trace.pt") && err.contains("TorchScript archive"), "{err}");
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let bytes = std::fs::read(dir().join("checkpoint_state_dict.pth")).unwrap();
    // Cut anywhere: the zip directory, a storage or the pickle goes missing.
    for cut in [0, 1, 100, bytes.len() / 3, bytes.len() / 2, bytes.len() - 30, bytes.len() - 1] {
        assert!(checkpoint::read_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    // Flip bytes in the pickle (the start) and the zip directory (the end): never a panic, and
    // whatever still loads has every tensor.
    let n = bytes.len();
    let mut refused = 0;
    for i in [0, 40, 70, 200, 1000, 3000, 6000, n - 1500, n - 800, n - 300, n - 100, n - 20] {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        match checkpoint::read_bytes(&b) {
            Ok(c) => assert_eq!(c.tensors.len(), 122, "flipped byte {i}"),
            Err(e) => {
                let e = e.to_string();
                assert!(!e.is_empty() && !e.contains('\n'), "flipped byte {i}: {e}");
                refused += 1;
            }
        }
    }
    // The zip's own header and directory are checked: some of these flips must be refused.
    assert!(refused > 0, "every damaged copy loaded");
    let st = std::fs::read(dir().join("weights.safetensors")).unwrap();
    let err = checkpoint::read_bytes(&st[..st.len() - 4]).unwrap_err().to_string();
    assert!(err.contains("invalid safetensors"), "{err}");
}

#[test]
fn hostile_pickles_are_refused_by_name() {
    use std::io::Write;
    let archive = |pickle: &[u8], storage: &[u8]| {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file("a/data.pkl", stored).unwrap();
        zip.write_all(pickle).unwrap();
        zip.start_file("a/data/0", stored).unwrap();
        zip.write_all(storage).unwrap();
        zip.finish().unwrap().into_inner()
    };
    let cases: [(&[u8], &str); 4] = [
        (b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.", "forbidden global `os.system`"),
        (b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.", "forbidden global `builtins.eval`"),
        (b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93X\x01\x00\x00\x001\x85R.", "forbidden global `builtins.exec`"),
        (b"\x80\x02ctorchvision.models\nResNet\n)\x81.", "forbidden global `torchvision.models.ResNet`"),
    ];
    for (pickle, needle) in cases {
        let err = checkpoint::read_bytes(&archive(pickle, &[])).unwrap_err().to_string();
        assert!(err.contains(needle) && err.contains("nothing from the file was executed"), "{err}");
    }
    // A tensor claiming 2^30 floats over an 8-byte storage entry: refused before allocating.
    let huge = b"\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ\x00\x00\x00\x40tQK\x00J\x00\x00\x00\x40\x85K\x01\x85\x89)tRs.";
    let err = checkpoint::read_bytes(&archive(huge, &[0u8; 8])).unwrap_err().to_string();
    assert!(
        err.contains("a/data/0 should hold 1073741824 f32 elements (4294967296 bytes) but the entry has 8 bytes"),
        "{err}"
    );
    // The same with an honest storage reads back.
    let at = huge.windows(5).position(|w| w == b"J\0\0\0\x40").unwrap();
    let mut small = huge[..at].to_vec();
    small.extend(b"K\x02");
    small.extend(&huge[at + 5..]);
    let at = small.windows(5).position(|w| w == b"J\0\0\0\x40").unwrap();
    small.splice(at..at + 5, *b"K\x02");
    let c = checkpoint::read_bytes(&archive(&small, &[0, 0, 128, 63, 0, 0, 0, 64])).unwrap();
    assert_eq!(c.tensors[0].1.as_slice::<f32>().unwrap(), &[1.0, 2.0]);
}
