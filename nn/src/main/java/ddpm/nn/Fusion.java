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

    /**
     * The group norm + SiLU in front of a convolution applied as the convolution loads its input
     * ({@code F.groupNormSiluConv2dAdd}): each ResBlock's norm1 → conv1 and norm2 → conv2 (when its
     * dropout is inactive), and the U-Net's norm_out → conv_out. It takes effect where no gradient is
     * recorded — sampling and evaluation — and there on CUDA at TF32/BF16 for the shapes its halo
     * kernels take: the normalised activation is never written. (A training step composes the ops:
     * its backward needs that activation.) Applies only with {@link #convAdd}.
     * {@code -Dddpm.fuse.normConv=false} turns it off; default on.
     */
    public static volatile boolean normConv = !"false".equalsIgnoreCase(System.getProperty("ddpm.fuse.normConv"));
}
