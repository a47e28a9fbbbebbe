//! `--arg NAME=VALUE` in a workload: a value for an argument of the model that is not a tensor
//! (a TorchScript `forward(x, sr: int)`'s `sr`, which the backend takes at load from
//! [`infer_core::LoadOptions::args`]), or for a scalar input (an ONNX input of rank 0), which
//! becomes a 0-d tensor of its dtype here ([`infer_core::args::scalar`]).

use infer_core::{ArgMap, Argument, Error, Result, Tensor, TensorSpec, args};

/// One slot per input of `specs`: the 0-d tensor `--arg` gives a scalar input, with where it
/// came from (`--arg scale=0.5`), or nothing. The names of `arguments` (the model's arguments
/// that are not tensors) are the backend's, and skipped; whether each of those has a value is
/// [`args::missing`]'s to say.
///
/// # Errors
/// [`Error::InvalidInput`], one line: a name that is neither an argument nor an input of the
/// model (listing both); a value that does not fit its input ([`args::scalar`]).
pub fn scalar_inputs(
    specs: &[TensorSpec],
    arguments: &[Argument],
    given: &ArgMap,
) -> Result<Vec<(Option<Tensor>, String)>> {
    let mut slots = vec![(None, String::new()); specs.len()];
    for (name, value) in given {
        if arguments.iter().any(|a| a.name == *name) {
            continue;
        }
        let Some(i) = specs.iter().position(|s| s.name == *name) else {
            let listed: Vec<String> = arguments.iter().map(|a| format!("{} ({})", a.name, a.ty)).collect();
            let inputs: Vec<String> = specs.iter().filter(|s| args::takes_scalar(s)).map(|s| s.to_string()).collect();
            let or_none = |v: Vec<String>| if v.is_empty() { "none".to_string() } else { v.join(", ") };
            return Err(Error::InvalidInput(format!(
                "--arg {name}={value}: the model has no argument or scalar input `{name}`: its arguments that are not \
                 tensors: {}; its inputs a scalar can be: {}",
                or_none(listed),
                or_none(inputs)
            )));
        };
        slots[i] = (Some(args::scalar(&specs[i], value)?), format!("--arg {name}={value}"));
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::{DType, Dim};

    use super::*;

    #[test]
    fn scalar_inputs_take_their_dtype_and_other_names_are_refused() {
        let specs = [
            TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(Some("batch".into())), Dim::Fixed(4)]),
            TensorSpec::new("offset", DType::I64, vec![]),
        ];
        let n = Argument { name: "n".into(), of: "forward".into(), ty: "int".into(), default: None, value: None };
        let given: ArgMap = [("offset".to_string(), "3".to_string())].into();
        let slots = scalar_inputs(&specs, &[], &given).unwrap();
        assert!(slots[0].0.is_none());
        assert_eq!(slots[1].0.as_ref().unwrap().as_slice::<i64>().unwrap(), [3]);
        assert_eq!(slots[1].1, "--arg offset=3");
        let given: ArgMap = [("n".to_string(), "3".to_string()), ("sr".to_string(), "1".to_string())].into();
        let e = scalar_inputs(&specs, &[Argument { value: Some("3".into()), ..n }], &given).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid input: --arg sr=1: the model has no argument or scalar input `sr`: its arguments that are not \
             tensors: n (int); its inputs a scalar can be: offset: i64 []"
        );
        let given: ArgMap = [("x".to_string(), "1".to_string())].into();
        let e = scalar_inputs(&specs, &[], &given).unwrap_err().to_string();
        assert!(e.contains("input `x` is a tensor [batch, 4], not a scalar"), "{e}");
    }
}
