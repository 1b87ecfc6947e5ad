using System.Reflection;
using System.Reflection.Emit;
using Archestra.Gateway.Core;

namespace Archestra.Gateway.Tests;

/// <summary>
/// The dependency rule of ARCHITECTURE.md, checked on the compiled gateway: every type of a folder (its namespace,
/// with nested, async and lambda types) is read for the types its signatures, fields, locals and IL name, so a
/// reference the compiler keeps counts whether it came from a <c>using</c>, a full name or a <c>var</c>.
/// </summary>
public sealed class ArchitectureTests
{
    private const string Root = "Archestra.Gateway.";

    private static readonly Assembly s_gateway = typeof(GatewayState).Assembly;

    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(static f => (OpCode)f.GetValue(null)!)
        .ToDictionary(static o => o.Value);

    public static TheoryData<string, string> ForbiddenEdges { get; } =
        new()
        {
            // The two features stand on the shared core, never on each other (nor on the admin API that composes them).
            { "Llm", "Mcp" },
            { "Llm", "Admin" },
            { "Mcp", "Llm" },
            { "Mcp", "Admin" },
            // The shared core knows no feature.
            { "Core", "Mcp" },
            { "Core", "Llm" },
            { "Core", "Admin" },
            { "Security", "Mcp" },
            { "Security", "Llm" },
            { "Security", "Admin" },
            { "Http", "Mcp" },
            { "Http", "Llm" },
            { "Metrics", "Mcp" },
            { "Metrics", "Llm" },
            { "Configuration", "Mcp" },
            { "Configuration", "Llm" },
            { "Configuration", "Admin" },
            // Telemetry is shared core: the features report to it; their own spans live in Mcp/McpTelemetry and Llm/LlmTelemetry.
            { "Telemetry", "Mcp" },
            { "Telemetry", "Llm" },
            { "Telemetry", "Admin" },
            // The web console is static files: it reaches the gateway only through the admin API, over HTTP.
            { "WebConsole", "Mcp" },
            { "WebConsole", "Llm" },
            { "WebConsole", "Admin" },
        };

    [Fact]
    public void The_storage_library_does_not_reference_the_gateway()
    {
        var storage = typeof(Archestra.Storage.ArchestraStore).Assembly;
        Assert.DoesNotContain(storage.GetReferencedAssemblies(), static a => a.Name == s_gateway.GetName().Name);
        Assert.Contains(s_gateway.GetReferencedAssemblies(), a => a.Name == storage.GetName().Name);
    }

    [Theory]
    [MemberData(nameof(ForbiddenEdges))]
    public void A_folder_of_the_gateway_does_not_reference_a_folder_the_rule_keeps_it_from(string from, string to)
    {
        var references = References(from, to);
        Assert.True(
            references.Count == 0,
            $"Archestra.Gateway.{from} must not depend on Archestra.Gateway.{to} (ARCHITECTURE.md), but:\n  " + string.Join("\n  ", references)
        );
    }

    [Fact]
    public void The_scan_finds_references_made_only_inside_method_bodies()
    {
        // GatewayServer composes both features: StartAsync's state machine creates the LlmProxy, which no signature of
        // MoveNext names, so only the IL shows it. Were the scan blind to bodies, the rule above would prove little.
        Assert.Contains(References("Admin", "Mcp"), static r => r.Contains("Mcp.", StringComparison.Ordinal));
        Assert.Contains(
            ReferencesOf(
                s_gateway
                    .GetType("Archestra.Gateway.GatewayServer")!
                    .GetNestedTypes(BindingFlags.NonPublic)
                    .Single(static t => t.Name.StartsWith("<StartAsync>", StringComparison.Ordinal)),
                Root + "Llm"
            ),
            static r => r.EndsWith("(MoveNext) -> Archestra.Gateway.Llm.LlmProxy", StringComparison.Ordinal)
        );
    }

    private static List<string> References(string from, string to)
    {
        var found = new List<string>();
        var types = s_gateway.GetTypes().Where(t => InFolder(t.Namespace, Root + from)).ToList();
        Assert.NotEmpty(types);
        foreach (var type in types)
        {
            found.AddRange(ReferencesOf(type, Root + to));
        }

        return found;
    }

    private static bool InFolder(string? ns, string folder) => ns is not null && (ns == folder || ns.StartsWith(folder + ".", StringComparison.Ordinal));

    private static IEnumerable<string> ReferencesOf(Type type, string folder)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var named = new List<(string Where, Type Type)>();
        if (type.BaseType is { } baseType)
        {
            named.Add(("base type", baseType));
        }

        named.AddRange(type.GetInterfaces().Select(static i => ("interface", i)));
        named.AddRange(type.GetFields(all).Select(static f => (f.Name, f.FieldType)));
        var methods = type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all));
        foreach (var method in methods)
        {
            var where = method.Name;
            if (method is MethodInfo info)
            {
                named.Add((where, info.ReturnType));
            }

            named.AddRange(method.GetParameters().Select(p => (where, p.ParameterType)));
            if (method.GetMethodBody() is not { } body)
            {
                continue;
            }

            named.AddRange(body.LocalVariables.Select(l => (where, l.LocalType)));
            foreach (var member in MembersIn(method, body))
            {
                named.AddRange(TypesOf(member).Select(t => (where, t)));
            }
        }

        foreach (var (where, named1) in named)
        {
            foreach (var t in Expand(named1))
            {
                if (InFolder(t.Namespace, folder) && seen.Add($"{type.FullName} ({where}) -> {t.FullName}"))
                {
                    yield return $"{type.FullName} ({where}) -> {t.FullName}";
                }
            }
        }
    }

    /// <summary>The members and types the method's IL loads, calls, creates or tests for.</summary>
    private static IEnumerable<MemberInfo> MembersIn(MethodBase method, MethodBody body)
    {
        var il = body.GetILAsByteArray() ?? [];
        var typeArguments = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var members = new List<MemberInfo>();
        var i = 0;
        while (i < il.Length)
        {
            short value = il[i++];
            if (value == 0xFE)
            {
                value = (short)(0xFE00 | il[i++]);
            }

            var opCode = s_opCodes[value];
            switch (opCode.OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineType or OperandType.InlineTok:
                    members.Add(method.Module.ResolveMember(BitConverter.ToInt32(il, i), typeArguments, methodArguments)!);
                    i += 4;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + (4 * BitConverter.ToInt32(il, i));
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.InlineBrTarget or OperandType.InlineI or OperandType.InlineSig or OperandType.InlineString or OperandType.ShortInlineR:
                    i += 4;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1;
                    break;
            }
        }

        return members;
    }

    private static IEnumerable<Type> TypesOf(MemberInfo member)
    {
        switch (member)
        {
            case Type t:
                yield return t;
                break;
            case FieldInfo f:
                yield return f.DeclaringType!;
                yield return f.FieldType;
                break;
            case MethodBase m:
                yield return m.DeclaringType!;
                foreach (var p in m.GetParameters())
                {
                    yield return p.ParameterType;
                }

                if (m is MethodInfo info)
                {
                    yield return info.ReturnType;
                    if (info.IsGenericMethod)
                    {
                        foreach (var a in info.GetGenericArguments())
                        {
                            yield return a;
                        }
                    }
                }

                break;
        }
    }

    /// <summary>A type with its element type, generic arguments and enclosing types.</summary>
    private static IEnumerable<Type> Expand(Type type)
    {
        if (type.IsGenericParameter)
        {
            yield break;
        }

        yield return type;
        if (type.HasElementType)
        {
            foreach (var t in Expand(type.GetElementType()!))
            {
                yield return t;
            }
        }

        if (type.IsGenericType)
        {
            foreach (var t in type.GetGenericArguments().SelectMany(Expand))
            {
                yield return t;
            }
        }
    }
}
