/**
 * Layers, the DDPM U-Net, and (in {@code ddpm.nn.optim}, {@code ddpm.nn.io}) optimizers, EMA and
 * safetensors checkpoints.
 *
 * <h2>Training loop</h2>
 * <pre>{@code
 * UNet net = new UNet(UNetConfig.cifar10(), device, seed);     // built: params in one flat buffer
 * Adam opt = new Adam(net);                                    // β 0.9/0.999, eps 1e-8
 * Ema ema = new Ema(net, 0.9999);
 * LinearWarmup lr = new LinearWarmup(2e-4, 5000);
 * for (...) {
 *     try (Scope s = Scope.open()) {                           // one step = one scope
 *         net.zeroGrad();
 *         Tensor loss = F.mseLoss(net.forward(xt, t, labelsOrNull), eps);
 *         loss.backward();
 *         GradClip.Result c = GradClip.compute(net.flatGrads(), 1.0);
 *         opt.step(lr.lr(opt.stepCount() + 1), c.scale());     // clipping folded into Adam
 *         ema.update();
 *     }
 * }
 * Checkpoint.save(path, net, opt, ema, step, Map.of("data", dataRng), null);
 * }</pre>
 *
 * <h2>Sampling</h2>
 * <pre>{@code
 * net.eval();                                                  // dropout off
 * try (Ema.Swap s = ema.swap(); Grad.Guard g = Grad.noGrad()) { ... net.forward(x, t, labels) ... }
 * // or from a file:  UNet net = Checkpoint.loadUNet(path, device, true).eval();
 * // or from any file jddpm reads (its checkpoints, PyTorch state dicts in the paper's layouts):
 * //                  UNet net = WeightFiles.load(path, device, true, null).net();
 * }</pre>
 *
 * <h2>Files</h2>
 * Checkpoints are safetensors with per-tensor CRC-32 checksums, checked on load together with
 * NaN/Inf ({@code Checkpoint}); {@code WeightLayout} maps jddpm's parameter names to the
 * pytorch_diffusion and diffusers layouts of the paper's weights, {@code WeightFiles} loads and
 * converts them. {@code tools/torch/jddpm_unet.py} is the same network in PyTorch.
 */
package ddpm.nn;
