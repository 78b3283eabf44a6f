// The project's packages stay small and the driver's layered: no package over 12 source files (main or
// test, every module), and no import cycle between the driver's packages.
package sparkgpt.driver;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class LayoutTest {
    static final Path ROOT = Path.of("..");

    static List<Path> sources() throws Exception {
        List<Path> files = new ArrayList<>();
        for (String module : List.of("kernels", "worker", "driver")) {
            for (String kind : List.of("main", "test")) {
                Path dir = ROOT.resolve(module).resolve("src").resolve(kind).resolve("java");
                if (!Files.isDirectory(dir)) continue;
                try (Stream<Path> s = Files.walk(dir)) {
                    s.filter(p -> p.toString().endsWith(".java")).forEach(files::add);
                }
            }
        }
        return files;
    }

    @Test
    void noPackageHoldsMoreThan12SourceFiles() throws Exception {
        Map<Path, Integer> count = new TreeMap<>();
        for (Path f : sources()) count.merge(f.getParent(), 1, Integer::sum);
        assertTrue(count.size() > 10, count.toString());
        count.forEach((dir, n) -> assertTrue(n <= 12, ROOT.relativize(dir) + " holds " + n + " source files"));
    }

    /** The driver's main packages: who imports whom (same-module references by import or full name). */
    @Test
    void driverPackagesHaveNoCycles() throws Exception {
        Pattern ref = Pattern.compile("sparkgpt\\.driver\\.(\\w+)\\.[A-Z]");
        Map<String, Set<String>> uses = new TreeMap<>();
        Path main = ROOT.resolve("driver/src/main/java/sparkgpt/driver");
        try (Stream<Path> s = Files.walk(main)) {
            for (Path f : s.filter(p -> p.toString().endsWith(".java")).toList()) {
                String pkg = main.relativize(f.getParent()).toString();
                Set<String> out = uses.computeIfAbsent(pkg, k -> new TreeSet<>());
                Matcher m = ref.matcher(Files.readString(f));
                while (m.find()) if (!m.group(1).equals(pkg)) out.add(m.group(1));
            }
        }
        assertTrue(uses.keySet().containsAll(List.of("cli", "config", "data", "step", "train", "checkpoint", "bench")), uses.toString());
        for (String start : uses.keySet()) { // a cycle through start: start reaches itself
            List<String> path = new ArrayList<>();
            assertFalse(reaches(uses, start, start, path, new TreeSet<>()), "import cycle: " + start + " -> " + path);
        }
    }

    private static boolean reaches(Map<String, Set<String>> uses, String from, String target, List<String> path, Set<String> seen) {
        for (String next : uses.getOrDefault(from, Set.of())) {
            path.add(next);
            if (next.equals(target)) return true;
            if (seen.add(next) && reaches(uses, next, target, path, seen)) return true;
            path.remove(path.size() - 1);
        }
        return false;
    }
}
