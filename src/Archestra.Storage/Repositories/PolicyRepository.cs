using Archestra.Policy;

namespace Archestra.Storage;

/// <param name="Kind">tool_invocation or trusted_data.</param>
public sealed record PolicyRow(
    Guid Id,
    string Kind,
    string Tool,
    IReadOnlyList<string> Profiles,
    IReadOnlyList<PolicyCondition> Conditions,
    string Action,
    string Reason,
    DateTime CreatedAt,
    DateTime UpdatedAt
)
{
    public string PolicyId => Id.ToString("D");

    public PolicyDefinition Definition => new(PolicyId, Tool, Conditions, Action, Reason, Profiles);
}

/// <summary><c>policies</c>: the API's tool-invocation and trusted-data policies.</summary>
public sealed class PolicyRepository : Repository<PolicyRow>
{
    internal PolicyRepository(ArchestraStore store)
        : base(store) { }

    public override async Task<IReadOnlyList<PolicyRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store
            .QueryAsync(
                "SELECT id, kind, tool, profiles, conditions, action, reason, created_at, updated_at FROM policies WHERE managed_by = "
                    + "'api' ORDER BY created_at, id",
                static r => new PolicyRow(
                    r.Guid(0),
                    r.String(1),
                    r.String(2),
                    StoredJson.ParseStrings(r.String(3)),
                    StoredJson.ParseConditions(r.String(4)),
                    r.String(5),
                    r.NullableString(6) ?? "",
                    r.Time(7),
                    r.Time(8)
                ),
                cancellationToken
            )
            .ConfigureAwait(false);

    private protected override Task Insert(StoreTransaction transaction, PolicyRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO policies (id, kind, tool, profiles, conditions, action, reason, managed_by, created_at, updated_at) VALUES (@id, @kind, "
                + "@tool, @profiles, @conditions, @action, @reason, 'api', @created, @updated)",
            cancellationToken,
            [.. Parameters(row), ("created", row.CreatedAt)]
        );

    private protected override Task Update(StoreTransaction transaction, PolicyRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "UPDATE policies SET tool = @tool, profiles = @profiles, conditions = @conditions, action = @action, reason = @reason, updated_at = "
                + "@updated WHERE id = @id AND kind = @kind",
            cancellationToken,
            Parameters(row)
        );

    private protected override Task Delete(StoreTransaction transaction, PolicyRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync("DELETE FROM policies WHERE id = @id", cancellationToken, ("id", row.Id));

    private static (string, object?)[] Parameters(PolicyRow row) =>
        [
            ("id", row.Id),
            ("kind", row.Kind),
            ("tool", row.Tool),
            ("profiles", new StoreJson(StoredJson.Strings(row.Profiles))),
            ("conditions", new StoreJson(StoredJson.Conditions(row.Conditions))),
            ("action", row.Action),
            ("reason", row.Reason),
            ("updated", row.UpdatedAt),
        ];
}
