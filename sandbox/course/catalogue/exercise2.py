"""Exercise 2's messages: (English, pt-BR). Keys: ``title.*`` name a check."""

MESSAGES: dict[str, tuple[str, str]] = {
    # check titles (Check.title: "title." + the check's name, spaces as _)
    "title.dbt_project": ("dbt project", "projeto dbt"),
    "title.workflow": ("workflow", "workflow"),
    "title.lint": ("lint", "lint"),
    "title.build_on_a_throwaway_warehouse": (
        "build on a throwaway warehouse",
        "build em um warehouse descartável",
    ),
    "title.slim_CI": ("slim CI", "slim CI"),
    "title.deploy_on_main": ("deploy on main", "deploy na main"),
    "title.same_steps_run_locally": ("same steps run locally", "mesmos passos rodam localmente"),
    "title.no_secrets": ("no secrets in the repository", "nenhum segredo no repositório"),
    # dbt project
    "ex2.project.missing": (
        "no dbt project: {path} is missing (the case's dbt project lives in dbt/; "
        "`sandbox course start 2` copies one to work on)",
        "sem projeto dbt: {path} não existe (o projeto dbt do caso fica em dbt/; "
        "`sandbox course start 2` copia um para você trabalhar)",
    ),
    "ex2.project.no_models": ("{path} has no .sql model", "{path} não tem nenhum modelo .sql"),
    "ex2.project.ok": ("dbt/ with {count} models", "dbt/ com {count} modelos"),
    # workflow
    "ex2.workflow.none": (
        "no workflow in {folder} runs dbt: add .github/workflows/dbt.yml "
        "(lint, build, slim CI, deploy)",
        "nenhum workflow em {folder} roda o dbt: crie .github/workflows/dbt.yml "
        "(lint, build, slim CI, deploy)",
    ),
    "ex2.workflow.yaml": (
        "{file}:{line}: {file} is not valid YAML ({error}): fix it, GitHub ignores it",
        "{file}:{line}: {file} não é um YAML válido ({error}): corrija, o GitHub o ignora",
    ),
    "ex2.workflow.actionlint": (
        "actionlint: {problems}: fix the workflow (GitHub would reject or misread it)",
        "actionlint: {problems}: corrija o workflow (o GitHub o rejeitaria ou leria errado)",
    ),
    "ex2.workflow.no_pr": (
        "no job running dbt starts on pull_request (workflows: {files}): CI must run "
        "on every pull request, before the merge",
        "nenhum job que roda o dbt dispara em pull_request (workflows: {files}): o CI "
        "precisa rodar em todo pull request, antes do merge",
    ),
    "ex2.workflow.no_push": (
        "no job starts on a push to main (workflows: {files}): add `on: push: "
        "branches: [main]` for the deploy",
        "nenhum job dispara em um push na main (workflows: {files}): adicione "
        "`on: push: branches: [main]` para o deploy",
    ),
    "ex2.workflow.ok": (
        "{files}: jobs {jobs}{note}",
        "{files}: jobs {jobs}{note}",
    ),
    "ex2.workflow.no_actionlint": (
        " (actionlint not installed: not linted)",
        " (actionlint não instalado: sem lint do workflow)",
    ),
    # lint
    "ex2.lint.none": (
        "no lint step: run `sqlfluff lint` on the models (dbt templater, Redshift "
        "dialect) in a job that runs on pull requests",
        "nenhum passo de lint: rode `sqlfluff lint` nos modelos (templater dbt, dialeto "
        "Redshift) em um job que rode nos pull requests",
    ),
    "ex2.lint.printed": (
        "{where}: `sqlfluff lint` is only printed (echo), never run: run the command itself",
        "{where}: `sqlfluff lint` só é impresso (echo), nunca executado: rode o comando em si",
    ),
    "ex2.lint.neutralised": (
        "{where}: the lint cannot fail the job (`|| true`, `set +e`, `--nofail` or "
        "`continue-on-error`): remove that, a lint error must stop the pull request",
        "{where}: o lint não consegue falhar o job (`|| true`, `set +e`, `--nofail` ou "
        "`continue-on-error`): remova isso, um erro de lint tem que barrar o pull request",
    ),
    "ex2.lint.not_on_pr": (
        "{where}: the lint runs in job {job!r}, which never runs on a pull request: "
        "lint before the merge",
        "{where}: o lint roda no job {job!r}, que nunca roda em pull request: faça o lint "
        "antes do merge",
    ),
    "ex2.lint.ok": (
        "{where}: the SQL is linted (job {job!r})",
        "{where}: o SQL passa por lint (job {job!r})",
    ),
    # build
    "ex2.build.none": (
        "no `dbt build` step on pull requests: build (run + test) the whole project in CI",
        "nenhum passo `dbt build` nos pull requests: faça o build (run + test) do projeto "
        "inteiro no CI",
    ),
    "ex2.build.prod": (
        "{where}: job {job!r} builds on the prod target ({how}): CI must never write to "
        "production; use a throwaway target (e.g. --target ci)",
        "{where}: o job {job!r} faz build no target prod ({how}): o CI nunca pode escrever "
        "em produção; use um target descartável (ex.: --target ci)",
    ),
    "ex2.build.neutralised": (
        "{where}: `dbt build` cannot fail the job (`|| true`, `set +e` or "
        "`continue-on-error`): a failing model or test must fail CI",
        "{where}: o `dbt build` não consegue falhar o job (`|| true`, `set +e` ou "
        "`continue-on-error`): um modelo ou teste quebrado tem que falhar o CI",
    ),
    "ex2.build.no_warehouse": (
        "{where}: job {job!r} runs dbt build on no warehouse of its own: start one on "
        "the runner (a `services: postgres` container, or `uv run sandbox demo`) or "
        "create a throwaway schema and drop it after",
        "{where}: o job {job!r} roda dbt build sem um warehouse próprio: suba um no "
        "runner (um contêiner `services: postgres`, ou `uv run sandbox demo`) ou crie um "
        "schema descartável e apague-o no final",
    ),
    "ex2.build.ok": (
        "{where}: job {job!r} builds on a warehouse of its own ({how})",
        "{where}: o job {job!r} faz build em um warehouse próprio ({how})",
    ),
    # slim CI
    "ex2.slim.none": (
        "no slim CI: on pull requests build only what changed, `dbt build --select "
        "state:modified+ --defer --state <production manifest>`",
        "sem slim CI: nos pull requests faça build só do que mudou, `dbt build --select "
        "state:modified+ --defer --state <manifest de produção>`",
    ),
    "ex2.slim.printed": (
        "{where}: `state:modified+` is only printed (echo), never run: run the dbt command",
        "{where}: `state:modified+` só é impresso (echo), nunca executado: rode o comando dbt",
    ),
    "ex2.slim.missing": (
        "{where}: slim CI without {missing}: add it (`--defer --state <folder of the "
        "production manifest>`), or the unmodified models are not found",
        "{where}: slim CI sem {missing}: adicione (`--defer --state <pasta do manifest "
        "de produção>`), senão os modelos não modificados não são encontrados",
    ),
    "ex2.slim.neutralised": (
        "{where}: slim CI cannot fail the job (`|| true`, `set +e` or "
        "`continue-on-error`): let it fail the pull request",
        "{where}: o slim CI não consegue falhar o job (`|| true`, `set +e` ou "
        "`continue-on-error`): deixe-o falhar o pull request",
    ),
    "ex2.slim.not_on_pr": (
        "{where}: slim CI runs in job {job!r}, which never runs on a pull request, where "
        "it saves time: run it on pull_request",
        "{where}: o slim CI roda no job {job!r}, que nunca roda em pull request, onde ele "
        "economiza tempo: rode-o em pull_request",
    ),
    "ex2.slim.ok": (
        "{where}: job {job!r} builds state:modified+ with --defer --state",
        "{where}: o job {job!r} faz build de state:modified+ com --defer --state",
    ),
    # deploy
    "ex2.deploy.none": (
        "no deploy job: on a push to main, build the dbt image, register the ECS task "
        "definition and update the state machine",
        "nenhum job de deploy: em um push na main, gere a imagem do dbt, registre a task "
        "definition do ECS e atualize a state machine",
    ),
    "ex2.deploy.on_pr": (
        "{where}: job {job!r} can deploy on a pull request: guard it with `if: "
        "github.event_name == 'push' && github.ref == 'refs/heads/main'` (no `||` "
        "alternative), or put it in a workflow on `push: branches: [main]` only",
        "{where}: o job {job!r} pode fazer deploy em um pull request: proteja-o com `if: "
        "github.event_name == 'push' && github.ref == 'refs/heads/main'` (sem alternativa "
        "com `||`), ou coloque-o em um workflow só com `push: branches: [main]`",
    ),
    "ex2.deploy.on_branch": (
        "{where}: job {job!r} deploys on a push to any branch, not only main: add "
        "`if: github.ref == 'refs/heads/main'` or `branches: [main]`",
        "{where}: o job {job!r} faz deploy em push de qualquer branch, não só da main: "
        "adicione `if: github.ref == 'refs/heads/main'` ou `branches: [main]`",
    ),
    "ex2.deploy.never": (
        "{where}: job {job!r} never runs on a push to main: its trigger or `if:` "
        "excludes it; deploy on pushes to main",
        "{where}: o job {job!r} nunca roda em um push na main: o gatilho ou o `if:` o "
        "excluem; faça o deploy nos pushes na main",
    ),
    "ex2.deploy.always": (
        "{where}: job {job!r} deploys even when the build it needs failed (`always()`, "
        "`failure()` or `!cancelled()` in its `if:`): drop it, so a failed build stops the deploy",
        "{where}: o job {job!r} faz deploy mesmo quando o build de que depende falhou "
        "(`always()`, `failure()` ou `!cancelled()` no `if:`): tire isso, para que um build "
        "com falha impeça o deploy",
    ),
    "ex2.deploy.needs": (
        "{where}: job {job!r} deploys without `needs:` the build and tests (it needs "
        "{needs}): deploy only what passed a `dbt build`",
        "{where}: o job {job!r} faz deploy sem `needs:` no build e nos testes (ele depende "
        "de {needs}): só faça deploy do que passou por um `dbt build`",
    ),
    "ex2.deploy.ok": (
        "{where}: job {job!r} deploys on main after {needs}",
        "{where}: o job {job!r} faz deploy na main depois de {needs}",
    ),
    # same steps locally
    "ex2.local.inline": (
        "the workflow's steps are inline YAML: put them in a script (e.g. dbt/ci/run.sh "
        "lint|build|slim|deploy), a Makefile or a justfile that the workflow and your "
        "laptop both call",
        "os passos do workflow estão inline no YAML: coloque-os em um script (ex.: "
        "dbt/ci/run.sh lint|build|slim|deploy), um Makefile ou um justfile que o workflow "
        "e o seu laptop chamem",
    ),
    "ex2.local.lacking": (
        "{lacking} written inline in YAML ({wheres}): move them to the script the "
        "workflow calls, so a laptop runs the same steps",
        "{lacking} escrito(s) inline no YAML ({wheres}): mova-os para o script que o "
        "workflow chama, para o laptop rodar os mesmos passos",
    ),
    "ex2.local.syntax": (
        "{file} has a syntax error: {error}",
        "{file} tem um erro de sintaxe: {error}",
    ),
    "ex2.local.ok": ("the workflow calls {files}", "o workflow chama {files}"),
    # secrets
    "ex2.secret.found": (
        "{where}: a secret written in the file ({what}): remove it (and rotate it), "
        "read it from `${{{{ secrets.NAME }}}}` or an environment variable",
        "{where}: um segredo escrito no arquivo ({what}): remova-o (e troque-o), leia de "
        "`${{{{ secrets.NOME }}}}` ou de uma variável de ambiente",
    ),
    "ex2.secret.ok": (
        "no secret literal in {count} files read",
        "nenhum segredo literal nos {count} arquivos lidos",
    ),
}
