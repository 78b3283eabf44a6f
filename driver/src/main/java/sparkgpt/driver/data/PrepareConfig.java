// The keys of `sparkgpt prepare`, with their defaults and reasons.
package sparkgpt.driver.data;

import java.util.List;
import sparkgpt.driver.config.ClusterConfig;
import sparkgpt.driver.config.Key;
import sparkgpt.driver.config.KeyGroup;
import sparkgpt.driver.config.Settings;

public record PrepareConfig(String input, String output, String format, String tokenizer, double valFraction,
                            int shardTokens, String master) {
    public static final Key<String> INPUT = Key.string("input", "",
            "required: comma-separated files or directories to tokenize (any Hadoop FS URI)")
            .check(x -> !x.isBlank(), "a file or directory to tokenize, e.g. --input=data/my.txt");
    public static final Key<String> OUTPUT = Key.string("output", "",
            "required: the directory for the shards and meta.json")
            .check(x -> !x.isBlank(), "an output directory, e.g. --output=data/my");
    public static final Key<String> FORMAT = Key.choice("format", "text",
            "text: every file is one document (llm.c, nanoGPT); europarl: Lucene's europarl.lines.txt(.gz), or a jar"
                    + " holding it, whose English lines' bodies are the documents", "text", "europarl");
    public static final Key<String> TOKENIZER = Key.choice("tokenizer", "gpt2",
            "gpt2: GPT-2's own BPE, vocab 50257 (nanoGPT's prepare.py); byte: UTF-8 bytes, vocab 256", "gpt2", "byte");
    public static final Key<Double> VAL_FRACTION = Key.real("val_fraction", 0.1,
            "the last val_fraction of the token stream becomes the val split (nanoGPT's shakespeare: 90% train)")
            .check(x -> x >= 0 && x < 1, "a fraction in [0, 1)");
    public static final Key<Integer> SHARD_TOKENS = Key.integer("shard_tokens", 100_000_000,
            "tokens per shard file at most (llm.c's fineweb shards hold 100M); every task writes its own, so a"
                    + " shard also ends where a task's share of the corpus does, and a task holds one shard in memory")
            .check(Key.atLeast(1), "a positive token count");
    public static final Key<String> MASTER = ClusterConfig.master(
            "Spark's master: local[*] (embedded, all cores), spark://host:7077, yarn, ...");
    public static final List<KeyGroup> GROUPS = List.of(new KeyGroup("prepare",
            List.of(INPUT, OUTPUT, FORMAT, TOKENIZER, VAL_FRACTION, SHARD_TOKENS, MASTER)));

    public static PrepareConfig from(Settings s) {
        return new PrepareConfig(s.get(INPUT), s.get(OUTPUT), s.get(FORMAT), s.get(TOKENIZER), s.get(VAL_FRACTION),
                s.get(SHARD_TOKENS), s.get(MASTER));
    }
}
