//! Bytes one optimizer update moves per parameter, by optimizer and by how the update runs:
//! the memory traffic an element-wise update is bound by.

use advisor_core::{OptimizerImplementation, OptimizerKind};

/// Bytes one optimizer step reads and writes per parameter, with fp32 parameters, gradients
/// and state (the master copy under autocast); `None` where the implementation does not
/// exist for the optimizer (bitsandbytes' 8-bit Adam is one fused kernel).
///
/// - Fused (`fused=True`: `_fused_adamw_`, one kernel over every tensor) touches each tensor
///   once: AdamW reads the parameter, gradient and both moments and writes the parameter and
///   moments, `7 × 4 = 28` B; SGD with momentum reads parameter, gradient and buffer and
///   writes parameter and buffer, 20 B; 8-bit Adam keeps its moments in one byte each
///   (Dettmers et al. 2021, "8-bit Optimizers via Block-wise Quantization"), 16 B.
/// - Foreach (PyTorch's default on CUDA) and the per-parameter loop run the same arithmetic
///   as separate element-wise passes, each reading its operands from memory and writing its
///   result. PyTorch's `_multi_tensor_adamw` (torch/optim/adamw.py, 2.x, without
///   `capturable`): `_foreach_mul_(params)` 8 B, `_foreach_lerp_(exp_avgs, grads)` 12,
///   `_foreach_mul_(exp_avg_sqs)` 8, `_foreach_addcmul_(exp_avg_sqs, grads, grads)` 12,
///   `_foreach_sqrt(exp_avg_sqs)` 8, `_foreach_div_` 8, `_foreach_add_(eps)` 8,
///   `_foreach_addcdiv_(params, exp_avgs, denominators)` 16: 80 B; `_single_tensor_adamw`
///   makes the same passes one tensor at a time. `_multi_tensor_sgd` with momentum:
///   `_foreach_mul_(bufs)` 8, `_foreach_add_(bufs, grads)` 12, `_foreach_add_(params, bufs)`
///   12: 32 B.
pub fn optimizer_step_bytes_per_parameter(
    optimizer: OptimizerKind,
    implementation: OptimizerImplementation,
) -> Option<f64> {
    let fused = matches!(implementation, OptimizerImplementation::Fused);
    match optimizer {
        OptimizerKind::AdamW => Some(if fused { 28.0 } else { 80.0 }),
        OptimizerKind::SgdMomentum => Some(if fused { 20.0 } else { 32.0 }),
        OptimizerKind::Adam8bit => fused.then_some(16.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fused_update_moves_each_tensor_once() {
        use OptimizerImplementation::{ForLoop, Foreach, Fused};
        let adamw = |i| optimizer_step_bytes_per_parameter(OptimizerKind::AdamW, i);
        assert_eq!(adamw(Fused), Some(7.0 * 4.0));
        assert_eq!(adamw(Foreach), adamw(ForLoop));
        assert!(adamw(Foreach) > adamw(Fused));
        assert_eq!(
            optimizer_step_bytes_per_parameter(OptimizerKind::Adam8bit, Foreach),
            None
        );
    }
}
