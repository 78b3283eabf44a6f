// A titled list of keys: how help, the key tables and a command's resolved configuration are grouped.
package sparkgpt.driver.config;

import java.util.List;

public record KeyGroup(String title, List<Key<?>> keys) {}
