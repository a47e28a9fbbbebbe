"""What `infer info` does, in Python's onnxruntime: load a model's session on the CPU and print
its inputs and outputs. `cargo xtask bench` times it (whole process) against `infer info`."""

import sys

import onnxruntime as ort


def main() -> None:
    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    print(f"model:    {sys.argv[1]}")
    print(f"backend:  onnxruntime {ort.__version__}")
    print("inputs:")
    for i in session.get_inputs():
        print(f"  {i.name}: {i.type} {i.shape}")
    print("outputs:")
    for o in session.get_outputs():
        print(f"  {o.name}: {o.type} {o.shape}")


if __name__ == "__main__":
    main()
