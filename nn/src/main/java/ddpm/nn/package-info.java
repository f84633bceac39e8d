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
 * }</pre>
 */
package ddpm.nn;
