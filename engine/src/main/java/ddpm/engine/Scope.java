package ddpm.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Owns every tensor created while it is the innermost open scope on this thread, and releases
 * them all when it closes, so device memory never waits for the garbage collector. One training
 * step is one scope; parameters, optimiser state and EMA are created outside any scope and live
 * until closed explicitly. {@link #keep} hands a result to the enclosing scope (or to no scope).
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private final List<Tensor> owned = new ArrayList<>();
    private final Scope parent;
    private boolean closed;

    private Scope(Scope parent) { this.parent = parent; }

    public static Scope open() {
        ArrayDeque<Scope> stack = STACK.get();
        Scope s = new Scope(stack.peek());
        stack.push(s);
        return s;
    }

    /** The innermost open scope on this thread, or null. */
    public static Scope current() { return STACK.get().peek(); }

    static void register(Tensor t) {
        Scope s = STACK.get().peek();
        if (s != null) s.adopt(t);
    }

    void adopt(Tensor t) {
        owned.add(t);
        t.owner = this;
    }

    /** Removes t from whatever scope owns it: it then lives until closed explicitly. */
    public static void disown(Tensor t) {
        if (t.owner != null) {
            t.owner.owned.remove(t);
            t.owner = null;
        }
    }

    /** Moves t (and nothing else) out of this scope into the enclosing one, or to no scope. */
    public <T extends Tensor> T keep(T t) {
        if (t.owner != this) throw new IllegalArgumentException("keep: tensor " + t.describe() + " is not owned by this scope");
        owned.remove(t);
        t.owner = null;
        if (parent != null && !parent.closed) parent.adopt(t);
        return t;
    }

    /** Number of tensors this scope will release. */
    public int size() { return owned.size(); }

    @Override public void close() {
        if (closed) return;
        ArrayDeque<Scope> stack = STACK.get();
        if (stack.peek() != this)
            throw new IllegalStateException("scopes must close innermost first: this scope (" + owned.size()
                    + " tensors) is not the innermost open scope on thread " + Thread.currentThread().getName());
        closed = true;
        stack.pop();
        for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).release();
        owned.clear();
    }
}
