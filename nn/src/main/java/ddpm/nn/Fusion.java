package ddpm.nn;

/**
 * Switches for the fused ops the layers use, so a benchmark or report can show fused against
 * unfused on the same build. Both settings compute the same function; on the CPU they give the
 * same bits (the fused op's CPU form is the unfused sequence).
 */
public final class Fusion {
    private Fusion() {}

    /**
     * ResBlock convolutions with the timestep-embedding add (conv1) and the shortcut add (conv2)
     * in their epilogue ({@code F.conv2dAdd}): two fewer passes over each block's activations on
     * the GPU. {@code -Dddpm.fuse.convAdd=false} turns it off; default on.
     */
    public static volatile boolean convAdd = !"false".equalsIgnoreCase(System.getProperty("ddpm.fuse.convAdd"));
}
