using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Policy;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary>
/// <c>/api/policies/tool-invocation</c> and <c>/api/policies/trusted-data</c>: the file's policy objects. An API
/// policy's id is assigned by the server (a UUID) and is what refusals and audit records name.
/// </summary>
internal sealed partial class AdminHandlers
{
    private void AddPolicyRoutes(List<AdminRoute> routes)
    {
        routes.Add(
            new(
                "POST",
                "/api/policies/evaluate",
                "policies",
                "What the live policies of a profile would decide for a sample call (and result), without calling anything",
                EvaluateAsync,
                Body: true
            )
            {
                ChangesNothing = true,
                Request = AdminJson.Default.PolicyEvaluationRequest,
                Response = AdminJson.Default.PolicyEvaluationBody,
            }
        );
        foreach (var (segment, kind) in new[] { ("tool-invocation", AdminResources.ToolInvocation), ("trusted-data", AdminResources.TrustedData) })
        {
            var tag = "policies";
            var what = kind == AdminResources.ToolInvocation ? "tool-invocation" : "trusted-data";
            routes.Add(
                new("GET", $"/api/policies/{segment}", tag, $"List {what} policies (file- and API-managed)", (h, c) => ListPoliciesAsync(h, kind))
                {
                    Response = AdminJson.Default.ItemsBodyPolicyBody,
                }
            );
            routes.Add(
                new(
                    "POST",
                    $"/api/policies/{segment}",
                    tag,
                    $"Create a {what} policy: tool, action, conditions, reason, profiles",
                    (h, c) => WritePolicyAsync(h, c, kind, null),
                    Body: true
                )
                {
                    Request = AdminJson.Default.PolicyRequest,
                    Response = AdminJson.Default.PolicyBody,
                }
            );
            routes.Add(
                new("GET", $"/api/policies/{segment}/{{id}}", tag, $"Get one {what} policy", (h, c) => GetPolicyAsync(h, kind))
                {
                    Response = AdminJson.Default.PolicyBody,
                }
            );
            routes.Add(
                new(
                    "PUT",
                    $"/api/policies/{segment}/{{id}}",
                    tag,
                    $"Replace an API-managed {what} policy",
                    (h, c) => WritePolicyAsync(h, c, kind, AdminRequest.Route(h, "id")),
                    Body: true
                )
                {
                    Request = AdminJson.Default.PolicyRequest,
                    Response = AdminJson.Default.PolicyBody,
                }
            );
            routes.Add(new("DELETE", $"/api/policies/{segment}/{{id}}", tag, $"Delete an API-managed {what} policy", (h, c) => DeletePolicyAsync(h, c, kind)));
        }
    }

    private IReadOnlyList<PolicyDefinition> FilePolicies(string kind) =>
        kind == AdminResources.ToolInvocation ? File.PolicyDefinitions.ToolInvocation : File.PolicyDefinitions.TrustedData;

    private async Task<AdminResult> ListPoliciesAsync(HttpContext http, string kind)
    {
        var state = await AdminResources.LoadAsync(Store, http.RequestAborted).ConfigureAwait(false);
        var items = FilePolicies(kind)
            .Select(static p => PolicyBodyOf(p, "file", null))
            .Concat(state.Policies.Where(p => p.Kind == kind).Select(static p => PolicyBodyOf(p.Definition, "api", p)))
            .ToList();
        return AdminResult.Ok(new ItemsBody<PolicyBody>(items), AdminJson.Default.ItemsBodyPolicyBody);
    }

    private async Task<AdminResult> GetPolicyAsync(HttpContext http, string kind)
    {
        var id = AdminRequest.Route(http, "id");
        if (FilePolicies(kind).FirstOrDefault(p => p.Id == id) is { } filePolicy)
        {
            return AdminResult.Ok(PolicyBodyOf(filePolicy, "file", null), AdminJson.Default.PolicyBody);
        }

        var state = await AdminResources.LoadAsync(Store, http.RequestAborted).ConfigureAwait(false);
        return state.Policies.FirstOrDefault(p => p.Kind == kind && p.PolicyId == id) is { } api
            ? AdminResult.Ok(PolicyBodyOf(api.Definition, "api", api), AdminJson.Default.PolicyBody)
            : AdminResult.NotFound("policy", id);
    }

    private async Task<AdminResult> WritePolicyAsync(HttpContext http, Caller caller, string kind, string? existingId)
    {
        var ct = http.RequestAborted;
        if (existingId is not null && FilePolicies(kind).Any(p => p.Id == existingId))
        {
            return AdminResult.FileManaged("policy", existingId);
        }

        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using var doc = document!;
        var body = doc.RootElement;
        if (
            body.TryGetProperty("id", out var givenId) && (existingId is null || givenId.ValueKind != JsonValueKind.String || givenId.GetString() != existingId)
        )
        {
            return AdminResult.Invalid(
                "$.id",
                existingId is null
                    ? "the id of an API policy is assigned by the server; leave it out"
                    : $"a policy's id cannot change; expected '{existingId}' or no id"
            );
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
            var current = existingId is null ? null : state.Policies.FirstOrDefault(p => p.Kind == kind && p.PolicyId == existingId);
            if (existingId is not null && current is null)
            {
                return AdminResult.NotFound("policy", existingId);
            }

            var id = current?.Id ?? Guid.CreateVersion7();

            // The file's reader checks structure (types, unknown and missing keys); the compiler, below, the meaning.
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("id"u8, id.ToString("D"));
                foreach (var property in body.EnumerateObject())
                {
                    if (property.Name != "id")
                    {
                        property.WriteTo(w);
                    }
                }

                w.WriteEndObject();
            }

            using var withId = JsonDocument.Parse(buffer.WrittenMemory);
            var reader = new ConfigReader("api", GetEnv);
            var definition = reader.ReadPolicyResource(withId.RootElement);
            if (definition is null || reader.PathErrors.Count > 0)
            {
                return AdminResult.Invalid(reader.PathErrors.Select(e => new FieldError(e.Path, e.Message)).ToList());
            }

            var now = DateTime.UtcNow;
            var row = new PolicyRow(
                id,
                kind,
                definition.Tool,
                definition.Profiles,
                definition.Conditions,
                definition.Action,
                definition.Reason,
                current?.CreatedAt ?? now,
                now
            );
            var candidate = state with { Policies = state.Policies.Where(p => p.Id != id).Append(row).ToList() };
            return await CommitAsync(
                    caller,
                    current is null ? "create" : "update",
                    "policy",
                    row.PolicyId,
                    candidate,
                    tx => current is null ? Store.Policies.InsertAsync(tx, row, ct) : Store.Policies.UpdateAsync(tx, row, ct),
                    AdminBodies.Writer(PolicyBodyOf(row.Definition, "api", null), AdminJson.Default.PolicyBody),
                    _ =>
                        current is null
                            ? AdminResult.Created(PolicyBodyOf(row.Definition, "api", row), AdminJson.Default.PolicyBody)
                            : AdminResult.Ok(PolicyBodyOf(row.Definition, "api", row), AdminJson.Default.PolicyBody),
                    ct
                )
                .ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    private Task<AdminResult> DeletePolicyAsync(HttpContext http, Caller caller, string kind)
    {
        var id = AdminRequest.Route(http, "id");
        return FilePolicies(kind).Any(p => p.Id == id)
            ? Task.FromResult(AdminResult.FileManaged("policy", id))
            : DeleteConfiguredAsync(
                http,
                caller,
                "policy",
                id,
                Store.Policies,
                state => state.Policies.FirstOrDefault(p => p.Kind == kind && p.PolicyId == id),
                () => AdminResult.NotFound("policy", id),
                static (state, policy) => state with { Policies = state.Policies.Where(p => p.Id != policy.Id).ToList() }
            );
    }

    private static PolicyBody PolicyBodyOf(PolicyDefinition policy, string managedBy, PolicyRow? row) =>
        new(
            policy.Id,
            policy.Tool,
            policy.Action,
            policy.Conditions.Select(static c => new PolicyConditionBody(c.Key, c.Operator, c.Value)).ToList(),
            policy.Reason,
            policy.Profiles,
            managedBy,
            row?.CreatedAt,
            row?.UpdatedAt
        );

    private static readonly string[] s_evaluationKeys = AdminBodies.Keys(AdminJson.Default.PolicyEvaluationRequest);

    private async Task<AdminResult> EvaluateAsync(HttpContext http, Caller caller)
    {
        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using var doc = document!;
        var body = doc.RootElement;
        var errors = new List<FieldError>();
        AdminRequest.UnknownKeys(body, "$", s_evaluationKeys, errors);

        var profile = AdminRequest.RequiredString(body, "profile", errors);
        var tool = AdminRequest.RequiredString(body, "tool", errors);
        var arguments = Optional(body, "arguments", JsonValueKind.Object, "an object of the call's arguments", errors);
        var result = Optional(body, "result", JsonValueKind.Object, "an object: the tool's result (e.g. an MCP CallToolResult)", errors);
        var trusted = true;
        if (body.TryGetProperty("contextTrusted", out var given))
        {
            if (given.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                trusted = given.GetBoolean();
            }
            else
            {
                errors.Add(new FieldError("$.contextTrusted", "expected true or false"));
            }
        }

        if (profile is not null && !Gateway.Profiles.ContainsKey(profile))
        {
            errors.Add(new FieldError("$.profile", $"unknown profile '{profile}'; profiles: {string.Join(", ", Gateway.Profiles.Keys)}"));
        }

        if (errors.Count > 0)
        {
            return AdminResult.Invalid(errors);
        }

        var policies = Gateway.Policies.ForProfile(profile!);
        var invocation = policies.EvaluateInvocation(tool!, Encoding.UTF8.GetBytes(arguments ?? "{}"), trusted);
        DecisionBody? resultBody = null;
        if (result is not null)
        {
            var decision = policies.EvaluateResult(tool!, Encoding.UTF8.GetBytes(result));
            resultBody = new DecisionBody(
                decision.Verdict switch
                {
                    ResultVerdict.Trusted => "trusted",
                    ResultVerdict.Block => "block",
                    ResultVerdict.SanitizeWithDualLlm => "sanitize_with_dual_llm",
                    _ => "untrusted",
                },
                Core.DecisionNames.Source(decision.Source),
                decision.PolicyId,
                decision.Reason
            );
        }

        var invocationBody = new DecisionBody(
            Core.DecisionNames.Verdict(invocation.Verdict),
            Core.DecisionNames.Source(invocation.Source),
            invocation.PolicyId,
            invocation.Reason
        );
        return AdminResult.Ok(new PolicyEvaluationBody(invocationBody, resultBody), AdminJson.Default.PolicyEvaluationBody);
    }

    private static string? Optional(JsonElement body, string name, JsonValueKind kind, string expected, List<FieldError> errors)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != kind)
        {
            errors.Add(new FieldError($"$.{name}", $"expected {expected}"));
            return null;
        }

        return value.GetRawText();
    }
}
