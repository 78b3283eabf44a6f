// The driver's Hadoop configuration for tasks that open files (Configuration is Writable, not Serializable):
// its Writable bytes in a broadcast, so a closure carries a handle of a few bytes, not the configuration,
// which a task would otherwise deserialize with the RDD's lineage in every job over a cached RDD.
package sparkgpt.driver.data;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

final class HadoopConf {
    private HadoopConf() {}

    /** The context's Hadoop configuration as a broadcast; {@link #of} turns its value back into a Configuration. */
    static Broadcast<byte[]> broadcast(JavaSparkContext sc) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            sc.hadoopConfiguration().write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return sc.broadcast(bytes.toByteArray());
    }

    /** The configuration a {@link #broadcast} carries (read only where a task opens files). */
    static Configuration of(Broadcast<byte[]> conf) {
        return of(conf.value());
    }

    /** The configuration from a broadcast's value, kept by what opens files later (TokenWindows). */
    static Configuration of(byte[] conf) {
        Configuration c = new Configuration(false);
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(conf))) {
            c.readFields(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return c;
    }
}
