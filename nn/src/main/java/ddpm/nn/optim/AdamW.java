package ddpm.nn.optim;

import ddpm.nn.Module;

/** Adam with decoupled weight decay (Loshchilov &amp; Hutter): p −= lr·(m̂/(√v̂+eps) + wd·p). */
public class AdamW extends Adam {
    public static final double DEFAULT_WEIGHT_DECAY = 0.01;

    public AdamW(Module model) { this(model, DEFAULT_WEIGHT_DECAY); }

    public AdamW(Module model, double weightDecay) { this(model, DEFAULT_BETA1, DEFAULT_BETA2, DEFAULT_EPS, weightDecay); }

    public AdamW(Module model, double beta1, double beta2, double eps, double weightDecay) {
        super(model, beta1, beta2, eps, weightDecay, true);
    }
}
