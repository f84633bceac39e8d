package ddpm.diffusion;

/**
 * The switch for replaying steps as recorded graphs (CUDA graphs) where the backend records work:
 * the samplers' steps and the trainer's step. The first step runs directly (it makes the tables
 * and measures the conv algorithms), the next is recorded once and replayed for the rest: one
 * launch per step instead of one per kernel, the values of the step-by-step loop.
 * {@code -Dddpm.cuda.graphs=false} (or {@link #enabled} = false) runs every step directly, to compare.
 */
public final class CudaGraphs {
    private CudaGraphs() {}

    public static volatile boolean enabled = !"false".equalsIgnoreCase(System.getProperty("ddpm.cuda.graphs"));
}
