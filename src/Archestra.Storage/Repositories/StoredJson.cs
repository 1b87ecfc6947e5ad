using System.Buffers;
using System.Text;
using System.Text.Json;
using Archestra.Policy;

namespace Archestra.Storage;

/// <summary>The JSON columns' stored forms: arrays of strings (profile names) and of policy conditions.</summary>
public static class StoredJson
{
    public static IReadOnlyList<string> ParseStrings(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var list = new List<string>();
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            list.Add(item.GetString() ?? "");
        }

        return list;
    }

    public static IReadOnlyList<PolicyCondition> ParseConditions(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var list = new List<PolicyCondition>();
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            list.Add(
                new PolicyCondition(item.GetProperty("key").GetString()!, item.GetProperty("operator").GetString()!, item.GetProperty("value").GetString()!)
            );
        }

        return list;
    }

    public static string Strings(IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return Write(w =>
        {
            w.WriteStartArray();
            foreach (var v in values)
            {
                w.WriteStringValue(v);
            }

            w.WriteEndArray();
        });
    }

    public static string Conditions(IEnumerable<PolicyCondition> conditions)
    {
        ArgumentNullException.ThrowIfNull(conditions);
        return Write(w =>
        {
            w.WriteStartArray();
            foreach (var c in conditions)
            {
                w.WriteStartObject();
                w.WriteString("key"u8, c.Key);
                w.WriteString("operator"u8, c.Operator);
                w.WriteString("value"u8, c.Value);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        });
    }

    /// <summary>Serialises a JSON writer callback to a string.</summary>
    public static string Write(Action<Utf8JsonWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            write(w);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
