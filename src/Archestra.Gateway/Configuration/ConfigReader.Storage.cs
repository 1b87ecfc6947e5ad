using System.Text.Json;

namespace Archestra.Gateway.Configuration;

/// <summary>The <c>database</c>, <c>storage</c> and <c>adminKeys</c> sections.</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] s_storageKeys =
    [
        "dataDirectory",
        "auditFlushIntervalMs",
        "auditWriteDeadlineMs",
        "auditBatchSize",
        "auditQueueCapacity",
        "auditRetentionDays",
        "auditMaxArgumentBytes",
    ];
    private static readonly string[] s_adminKeyKeys = ["name", "key", "scope"];

    private string? ReadDatabase(JsonElement element, string path)
    {
        if (!TryReadString(element, path, out var text))
        {
            return null;
        }

        if (text.Value.StartsWith("postgres://", StringComparison.Ordinal) || text.Value.StartsWith("postgresql://", StringComparison.Ordinal))
        {
            return text.Value;
        }

        // Never echo the value: it holds a password.
        Error(
            path,
            $"expected a postgres://user:password@host:port/database URL{(text.EnvName is null ? "" : $" in {text.EnvName}")}"
                + "; leave database out to use the embedded SQLite file"
        );
        return null;
    }

    private StorageConfig ReadStorage(JsonElement element, string path)
    {
        var config = new StorageConfig();
        if (!ExpectObject(element, path))
        {
            return config;
        }

        foreach (var property in KnownProperties(element, path, s_storageKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "dataDirectory":
                    if (TryReadString(property.Value, itemPath, out var dir))
                    {
                        if (dir.Value.Length == 0)
                        {
                            Error(itemPath, "expected a non-empty directory path");
                        }
                        else
                        {
                            config = config with { DataDirectory = dir.Value };
                        }
                    }

                    break;
                case "auditFlushIntervalMs":
                    if (TryReadInteger(property.Value, itemPath, 1, 60_000, out var ms))
                    {
                        config = config with { AuditFlushInterval = TimeSpan.FromMilliseconds(ms) };
                    }

                    break;
                case "auditWriteDeadlineMs":
                    if (TryReadInteger(property.Value, itemPath, 1, 600_000, out var deadline))
                    {
                        config = config with { AuditWriteDeadline = TimeSpan.FromMilliseconds(deadline) };
                    }

                    break;
                case "auditBatchSize":
                    if (TryReadInteger(property.Value, itemPath, 1, 100_000, out var batch))
                    {
                        config = config with { AuditBatchSize = (int)batch };
                    }

                    break;
                case "auditQueueCapacity":
                    if (TryReadInteger(property.Value, itemPath, 1, 10_000_000, out var capacity))
                    {
                        config = config with { AuditQueueCapacity = (int)capacity };
                    }

                    break;
                case "auditRetentionDays":
                    if (TryReadInteger(property.Value, itemPath, 1, 36_500, out var days))
                    {
                        config = config with { AuditRetentionDays = (int)days };
                    }

                    break;
                case "auditMaxArgumentBytes":
                    if (TryReadInteger(property.Value, itemPath, 0, 1_048_576, out var bytes))
                    {
                        config = config with { AuditMaxArgumentBytes = (int)bytes };
                    }

                    break;
            }
        }

        return config;
    }

    private List<AdminKeyConfig> ReadAdminKeys(JsonElement element, string path)
    {
        var keys = new List<AdminKeyConfig>();
        if (element.ValueKind != JsonValueKind.Array)
        {
            ExpectedKind(path, "an array of {name, key, scope} admin keys", element);
            return keys;
        }

        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            var itemPath = Index(path, index++);
            if (!ExpectObject(item, itemPath))
            {
                continue;
            }

            string? name = null;
            byte[]? hash = null;
            var canWrite = true;
            foreach (var property in KnownProperties(item, itemPath, s_adminKeyKeys))
            {
                var propertyPath = Child(itemPath, property.Name);
                switch (property.Name)
                {
                    case "name":
                        if (TryReadString(property.Value, propertyPath, out var text))
                        {
                            name = text.Value;
                        }

                        break;
                    case "key":
                        var hashes = new List<byte[]>(1);
                        ReadSecretReference(property.Value, propertyPath, hashes);
                        hash = hashes.Count == 1 ? hashes[0] : null;
                        break;
                    case "scope":
                        canWrite = ReadChoice(property.Value, propertyPath, "read-write", "read-only") != "read-only";
                        break;
                }
            }

            if (hash is null)
            {
                if (!_errors.Exists(e => e.Contains(Child(itemPath, "key") + ":", StringComparison.Ordinal)))
                {
                    Error(itemPath, "missing key: env:NAME (the variable holds the key) or sha256:HEX");
                }

                continue;
            }

            keys.Add(new AdminKeyConfig(name ?? $"adminKeys[{index - 1}]", hash, canWrite));
        }

        return keys;
    }
}
