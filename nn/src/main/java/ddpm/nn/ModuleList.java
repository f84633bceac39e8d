package ddpm.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** An ordered list of modules named "0", "1", ... (torch.nn.ModuleList). */
public class ModuleList extends Module {
    private final List<Module> items = new ArrayList<>();

    public <M extends Module> M add(M m) {
        child(Integer.toString(items.size()), m);
        items.add(m);
        return m;
    }

    public Module get(int i) { return items.get(i); }

    public int size() { return items.size(); }

    public List<Module> items() { return Collections.unmodifiableList(items); }
}
