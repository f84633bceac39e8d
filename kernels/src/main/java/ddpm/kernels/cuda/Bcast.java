package ddpm.kernels.cuda;

import ddpm.engine.Broadcast;

/** The engine's broadcast plan ({@link Broadcast}), held to the 8 axes the kernels' index
 *  arithmetic takes (ranks above 8 usually merge below it). */
final class Bcast {
    private Bcast() {}

    static Broadcast plan(int[] out, int[]... operands) {
        Broadcast p = Broadcast.plan(out, operands);
        if (p.rank > 8) throw new IllegalArgumentException("broadcast of rank " + p.rank + " after merging axes exceeds 8: "
                + java.util.Arrays.toString(out));
        return p;
    }
}
