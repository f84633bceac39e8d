package ddpm.nn;

import ddpm.engine.Shapes;
import ddpm.engine.Tensor;

/**
 * A parameter slot declared by a {@link Module}: a local name, a shape and an initialiser. The
 * tensor itself is created when the root module is built ({@link Module#build}): it is then a view
 * into the model's one flat parameter buffer, and its gradient a view into the flat gradient buffer.
 */
public final class Parameter {
    private final String localName;
    private final int[] shape;
    private final Init init;
    Tensor value;
    String fullName;
    long flatOffset = -1;

    Parameter(String localName, Init init, int... shape) {
        Shapes.check(shape);
        this.localName = localName;
        this.shape = shape.clone();
        this.init = init;
    }

    public String localName() { return localName; }

    /** The hierarchical name (e.g. {@code down.0.conv1.weight}) once built, else the local name. */
    public String name() { return fullName != null ? fullName : localName; }

    public int[] shape() { return shape.clone(); }

    public long numel() { return Shapes.numel(shape); }

    public Init init() { return init; }

    /** Offset of this parameter in the flat buffers (elements), once built. */
    public long flatOffset() { return flatOffset; }

    /** The parameter tensor (a view into the flat buffer, requiresGrad, grad set). */
    public Tensor get() {
        if (value == null)
            throw new IllegalStateException("parameter '" + name() + "' has no tensor yet: build the model first"
                    + " (Module.build(device, dtype, seed), or construct a UNet, which builds itself)");
        return value;
    }

    public boolean isBuilt() { return value != null; }

    @Override public String toString() { return "Parameter(" + name() + " " + Shapes.str(shape) + ")"; }
}
