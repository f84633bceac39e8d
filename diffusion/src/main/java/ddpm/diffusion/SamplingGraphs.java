package ddpm.diffusion;

/**
 * The switch for replaying sampling steps as recorded graphs (CUDA graphs) where the backend
 * records work: the first step runs directly, the next is recorded once and replayed for the
 * rest, which costs one launch per step instead of one per kernel. The values are those of the
 * step-by-step loop. {@code -Dddpm.cuda.graphs=false} (or {@link #enabled} = false) runs every
 * step directly, to compare.
 */
public final class SamplingGraphs {
    private SamplingGraphs() {}

    public static volatile boolean enabled = !"false".equalsIgnoreCase(System.getProperty("ddpm.cuda.graphs"));
}
