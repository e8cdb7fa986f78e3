"""Exercise 1's messages: (English, pt-BR). Keys ``title.*`` name a check."""
# ruff: noqa: E501  (messages are sentences: a translator reads each on one line)

MESSAGES: dict[str, tuple[str, str]] = {
    # -- check titles
    "title.job_module": ("job module", "módulo do job"),
    "title.no_I/O,_no_hard-coded_paths": (
        "no I/O, no hard-coded paths",
        "sem I/O, sem caminhos fixos",
    ),
    "title.same_result_as_the_prototype": (
        "same result as the prototype",
        "mesmo resultado do protótipo",
    ),
    "title.unit_tests": ("unit tests", "testes unitários"),
    "title.wired_as_a_pipeline_task": (
        "wired as a pipeline task",
        "ligado como tarefa do pipeline",
    ),
    "title.CI_runs_the_tests": ("CI runs the tests", "a CI roda os testes"),
    # -- the job module
    "ex1.needs_module": ("needs a job module first", "precisa primeiro de um módulo do job"),
    "ex1.module.not_importable": (
        "{file} cannot be imported as a Python module",
        "{file} não pode ser importado como módulo Python",
    ),
    "ex1.module.import_fails": ("{file} does not import: {error}", "{file} não importa: {error}"),
    "ex1.module.io_at_import": (
        "{file}:{line} calls {call}() at import: move reads, writes and the session into the task function",
        "{file}:{line} chama {call}() na importação: leve leituras, escritas e a sessão para a função da tarefa",
    ),
    "ex1.module.syntax": (
        "{file}:{line} is not valid Python: {error}",
        "{file}:{line} não é Python válido: {error}",
    ),
    "ex1.module.no_python": ("no Python file", "nenhum arquivo Python"),
    "ex1.module.none": (
        "no job module in {root} (found {found}): move the notebook's transformation into a .py module "
        "with a function that takes the silver DataFrames and returns a DataFrame",
        "nenhum módulo do job em {root} (encontrado: {found}): leve a transformação do notebook para um "
        "módulo .py com uma função que recebe os DataFrames do silver e devolve um DataFrame",
    ),
    "ex1.module.untyped": (
        "no function typed DataFrame in, DataFrame out in {files}: annotate the transform, "
        "e.g. `def f(dim_player: DataFrame, ...) -> DataFrame`",
        "nenhuma função tipada DataFrame na entrada e DataFrame na saída em {files}: anote a "
        "transformação, por exemplo `def f(dim_player: DataFrame, ...) -> DataFrame`",
    ),
    "ex1.module.ok": (
        "{file}: {name}(DataFrame...) -> DataFrame",
        "{file}: {name}(DataFrame...) -> DataFrame",
    ),
    # -- purity
    "ex1.pure.path": (
        "{file}:{line} hard-codes the path {path}: take paths from sandbox.jobs.layers "
        "(silver_path, gold_path) and the settings, at the edge",
        "{file}:{line} fixa o caminho {path} no código: pegue os caminhos de sandbox.jobs.layers "
        "(silver_path, gold_path) e das configurações, na borda",
    ),
    "ex1.pure.io": (
        "{file}:{line}: {name} calls {call}(): the transform takes DataFrames and returns one; "
        "read and write in the task that calls it",
        "{file}:{line}: {name} chama {call}(): a transformação recebe DataFrames e devolve um; "
        "leia e escreva na tarefa que a chama",
    ),
    "ex1.pure.ok": (
        "{name} only transforms; paths come from the platform",
        "{name} só transforma; os caminhos vêm da plataforma",
    ),
    # -- the result
    "ex1.lake.sample": (
        "the committed sample (data_samples/)",
        "a amostra do repositório (data_samples/)",
    ),
    "ex1.lake.edge": (
        "the edge cases (year boundary, players who never play, activity before signup, empty months)",
        "os casos de borda (virada de ano, jogadores que nunca jogam, atividade antes do cadastro, meses vazios)",
    ),
    "ex1.lake.random": ("a generated random lake", "um lake aleatório gerado"),
    "ex1.result.params": (
        "{name} takes {unknown} and lacks {missing}: name each parameter after the silver table it takes ({tables})",
        "{name} recebe {unknown} e não recebe {missing}: dê a cada parâmetro o nome da tabela silver que ele recebe ({tables})",
    ),
    "ex1.result.fails": ("{name} fails on {lake}: {error}", "{name} falha em {lake}: {error}"),
    "ex1.result.columns": (
        "{name} returns columns {got}; the prototype returns {want}",
        "{name} devolve as colunas {got}; o protótipo devolve {want}",
    ),
    "ex1.result.wrong": (
        "{name} differs from the prototype on {lake}: {problem}",
        "{name} difere do protótipo em {lake}: {problem}",
    ),
    "ex1.result.differs": (
        "{got} rows where the prototype has {want}; {missing} rows missing, {extra} extra ({example})",
        "{got} linhas onde o protótipo tem {want}; faltam {missing} linhas, sobram {extra} ({example})",
    ),
    "ex1.result.missing": ("missing {row}", "falta {row}"),
    "ex1.result.extra": ("unexpected {row}", "sobra {row}"),
    "ex1.result.ok": (
        "the prototype's rows, no more, no fewer: {sample} on the sample, {edge} on the edge cases, "
        "{random} on a random lake",
        "as linhas do protótipo, nem mais nem menos: {sample} na amostra, {edge} nos casos de borda, "
        "{random} num lake aleatório",
    ),
    # -- the unit tests
    "ex1.tests.none": (
        "no test_*.py in {root}: test the transform on a few inline rows per case, each with a "
        "comment saying why the expected row is right",
        "nenhum test_*.py em {root}: teste a transformação com poucas linhas por caso, cada caso com "
        "um comentário dizendo por que a linha esperada está certa",
    ),
    "ex1.tests.none_collected": (
        "pytest found no test in {files}: name the test functions test_*",
        "o pytest não encontrou nenhum teste em {files}: nomeie as funções de teste test_*",
    ),
    "ex1.tests.fail": (
        "the unit tests fail ({summary}): {failed}",
        "os testes unitários falham ({summary}): {failed}",
    ),
    "ex1.tests.not_called": (
        "no test calls {name} (from {file}): call it on small DataFrames and compare its rows",
        "nenhum teste chama {name} (de {file}): chame-a com DataFrames pequenos e compare as linhas",
    ),
    "ex1.tests.survivors": (
        "{summary}, but they catch {caught} of {total} planted mistakes: add a case with {cases}, "
        "asserting the exact rows",
        "{summary}, mas eles pegam só {caught} de {total} erros plantados: acrescente um caso com "
        "{cases}, conferindo as linhas exatas",
    ),
    "ex1.tests.ok": (
        "{summary}; they catch all {total} planted mistakes",
        "{summary}; eles pegam todos os {total} erros plantados",
    ),
    "ex1.case.several_matches": (
        "a player with several matches in one month (counts once)",
        "um jogador com várias partidas no mesmo mês (conta uma vez)",
    ),
    "ex1.case.year_boundary": (
        "a cohort whose activity crosses a year boundary (December -> January is 1 month)",
        "uma coorte com atividade na virada do ano (dezembro -> janeiro é 1 mês)",
    ),
    "ex1.case.never_played": (
        "a player who never played (still in the cohort's size)",
        "um jogador que nunca jogou (ainda conta no tamanho da coorte)",
    ),
    "ex1.case.before_signup": (
        "a match before the signup month (not retention)",
        "uma partida antes do mês do cadastro (não é retenção)",
    ),
    "ex1.case.month_zero": (
        "activity in the signup month (month 0)",
        "atividade no mês do cadastro (mês 0)",
    ),
    # -- the task
    "ex1.task.none": (
        'the job is not wired: add `TASK = Task("<name>", ("silver",), run, "...")` '
        "(sandbox.orchestrate.pipeline.Task) to your module, with a run function that reads "
        "silver, calls the transform and writes gold; or a state machine <name>.asl.json with a "
        "Task state that runs it",
        'o job não está ligado ao pipeline: acrescente `TASK = Task("<nome>", ("silver",), run, "...")` '
        "(sandbox.orchestrate.pipeline.Task) ao seu módulo, com uma função run que lê o silver, chama a "
        "transformação e grava no gold; ou uma state machine <nome>.asl.json com um estado Task que o roda",
    ),
    "ex1.task.unknown": (
        "task {task!r} depends on {unknown}; upstream tasks are among {known}",
        "a tarefa {task!r} depende de {unknown}; as tarefas anteriores possíveis são {known}",
    ),
    "ex1.task.no_upstream": (
        "task {task!r} has no upstream: it reads silver, so it runs after the 'silver' task",
        "a tarefa {task!r} não depende de nada: ela lê o silver, então roda depois da tarefa 'silver'",
    ),
    "ex1.task.before_silver": (
        "task {task!r} runs after {upstream}, which can be before silver is built: it reads silver, "
        "so it depends on 'silver'",
        "a tarefa {task!r} roda depois de {upstream}, o que pode ser antes do silver existir: ela lê o "
        "silver, então depende de 'silver'",
    ),
    "ex1.task.not_callable": (
        "task {task!r} has no run function: pass the function that reads, transforms and writes",
        "a tarefa {task!r} não tem função run: passe a função que lê, transforma e grava",
    ),
    "ex1.task.reads_other": (
        "task {task!r}, run on the sample, reads {path}, which is not a silver table: read silver "
        "with silver_path(settings, 'core', '<table>')",
        "a tarefa {task!r}, rodando na amostra, lê {path}, que não é uma tabela silver: leia o silver "
        "com silver_path(settings, 'core', '<tabela>')",
    ),
    "ex1.task.fails": (
        "task {task!r}, run on the sample with a pipeline Context, fails: {error}",
        "a tarefa {task!r}, rodando na amostra com um Context do pipeline, falha: {error}",
    ),
    "ex1.task.read_only": (
        "task {task!r} calls the transform (read, not run: it writes with another client than Spark: {error})",
        "a tarefa {task!r} chama a transformação (lido, não executado: ela grava com outro cliente que não o Spark: {error})",
    ),
    "ex1.task.no_transform": (
        "task {task!r} never calls {name}: its run function reads silver, calls the transform, writes gold",
        "a tarefa {task!r} nunca chama {name}: a função run lê o silver, chama a transformação e grava no gold",
    ),
    "ex1.task.no_gold_write": (
        "task {task!r}, run on the sample, writes nothing under gold (writes: {writes}): "
        "write the mart to gold_path(settings, '<mart>')",
        "a tarefa {task!r}, rodando na amostra, não grava nada no gold (gravações: {writes}): "
        "grave o mart em gold_path(settings, '<mart>')",
    ),
    "ex1.task.wrong_write": (
        "task {task!r}, run on the sample, writes {paths}, but not the transform's result: its run "
        "function must write what the transform returns",
        "a tarefa {task!r}, rodando na amostra, grava {paths}, mas não o resultado da transformação: a "
        "função run deve gravar o que a transformação devolve",
    ),
    "ex1.task.appends": (
        'task {task!r}, run twice on the sample (two days of its schedule), leaves every row twice in {path}: write the mart with mode("overwrite") (or merge on its key), so a rerun gives the same mart',
        'a tarefa {task!r}, rodando duas vezes na amostra (dois dias do agendamento), deixa cada linha duas vezes em {path}: grave o mart com mode("overwrite") (ou faça merge pela chave), para que rodar de novo dê o mesmo mart',
    ),
    "ex1.task.ok": (
        "task {task!r} after {upstream}: run twice on the sample, it read {reads} and wrote what the transform returns to {path}",
        "tarefa {task!r} depois de {upstream}: rodando duas vezes na amostra, leu {reads} e gravou em {path} o que a transformação devolve",
    ),
    "ex1.task.asl_ok": ("state machine {file} runs the job", "a state machine {file} roda o job"),
    "ex1.asl.invalid": (
        "{file} is not a state machine (JSON with StartAt and States): {error}",
        "{file} não é uma state machine (JSON com StartAt e States): {error}",
    ),
    "ex1.asl.start": (
        "{file}: StartAt {start!r} is not a state",
        "{file}: StartAt {start!r} não é um estado",
    ),
    "ex1.asl.next": (
        "{file}: state {state!r} goes to {next!r}, which is not a state",
        "{file}: o estado {state!r} vai para {next!r}, que não é um estado",
    ),
    "ex1.asl.no_job": (
        "{file}: no Task state names the job ({name})",
        "{file}: nenhum estado Task cita o job ({name})",
    ),
    # -- CI
    "ex1.ci.ok": (
        "{where}: job {job!r} runs pytest on pull requests",
        "{where}: o job {job!r} roda o pytest nos pull requests",
    ),
    "ex1.ci.cannot_fail": (
        "{where}: job {job!r} runs pytest but its failure cannot fail the job (`|| true`, "
        "`continue-on-error`, `set +e`): let a failing test fail the check",
        "{where}: o job {job!r} roda o pytest, mas a falha dele não derruba o job (`|| true`, "
        "`continue-on-error`, `set +e`): deixe um teste que falha reprovar a verificação",
    ),
    "ex1.ci.pr_target": (
        "{where}: job {job!r} runs on pull_request_target, which runs the base branch's code, not the pull request's: use pull_request, so the change under review is what is tested",
        "{where}: o job {job!r} roda em pull_request_target, que roda o código da branch base, não o do pull request: use pull_request, para testar a mudança em revisão",
    ),
    "ex1.ci.not_on_prs": (
        "{where}: job {job!r} runs pytest, but never on a pull request: add `pull_request` to "
        "the workflow's `on:` (and no `if:` that skips it)",
        "{where}: o job {job!r} roda o pytest, mas nunca num pull request: acrescente "
        "`pull_request` ao `on:` do workflow (e nenhum `if:` que o pule)",
    ),
    "ex1.ci.none": (
        "no workflow in {root}/.github/workflows runs pytest (an `echo` runs nothing): add one on "
        "pull_request with a step `uv run pytest <your tests>`",
        "nenhum workflow em {root}/.github/workflows roda o pytest (um `echo` não roda nada): crie "
        "um em pull_request com um passo `uv run pytest <seus testes>`",
    ),
    # -- productizing
    "title.retries": ("retries", "retentativas"),
    "title.failure_alert": ("failure alert", "alerta de falha"),
    "title.schedule": ("schedule", "agendamento"),
    "ex1.product.no_task": (
        "needs the pipeline task first (TASK = Task(...)): the state machine runs it by name",
        "precisa primeiro da tarefa do pipeline (TASK = Task(...)): a state machine a roda pelo nome",
    ),
    "ex1.product.no_machine": (
        'no state machine runs task {task!r}: add <name>.asl.json with a Task state "Resource": '
        '"arn:aws:states:::lambda:invoke", "Parameters": {{"FunctionName": "${{RunPipelineTaskArn}}", '
        '"Payload": {{"task": "{task}"}}}} (aws/lambdas/run_pipeline_task runs it as an EMR Serverless job run)',
        'nenhuma state machine roda a tarefa {task!r}: crie <nome>.asl.json com um estado Task "Resource": '
        '"arn:aws:states:::lambda:invoke", "Parameters": {{"FunctionName": "${{RunPipelineTaskArn}}", '
        '"Payload": {{"task": "{task}"}}}} (aws/lambdas/run_pipeline_task a roda como um job run do EMR Serverless)',
    ),
    "ex1.product.not_json": (
        "{where} is not valid JSON: {error}",
        "{where} não é um JSON válido: {error}",
    ),
    "ex1.product.invalid": (
        "{file}: Step Functions refuses the definition (CreateStateMachine would fail on AWS too): {error}",
        "{file}: o Step Functions recusa a definição (o CreateStateMachine falharia na AWS também): {error}",
    ),
    "ex1.retries.ok": (
        "{file}: a planted transient failure ({error}) was retried and the task then ran on the sample (waits: {waits}, recorded, not waited)",
        "{file}: uma falha transitória plantada ({error}) foi retentada e a tarefa então rodou na amostra (esperas: {waits}, registradas, não esperadas)",
    ),
    "ex1.retries.none": (
        "{file}: a planted transient failure (Lambda.ServiceException) ended the execution {status} with no second attempt: add to the Task state a Retry on Lambda.ServiceException (or States.TaskFailed) with MaxAttempts >= 1 and IntervalSeconds > 0",
        "{file}: uma falha transitória plantada (Lambda.ServiceException) terminou a execução como {status} sem segunda tentativa: acrescente ao estado Task um Retry em Lambda.ServiceException (ou States.TaskFailed) com MaxAttempts >= 1 e IntervalSeconds > 0",
    ),
    "ex1.retries.failed": (
        "{file}: the retry ran, but the execution ended {status} (errors on the way: {errors}): the task itself fails on the sample, see the task check",
        "{file}: a retentativa rodou, mas a execução terminou como {status} (erros no caminho: {errors}): a própria tarefa falha na amostra, veja a verificação da tarefa",
    ),
    "ex1.alert.ok": (
        "{file}: a planted permanent failure (invocations: {attempts}) published an alert to the SNS topic and the execution ended FAILED",
        "{file}: uma falha permanente plantada (invocações: {attempts}) publicou um alerta no tópico SNS e a execução terminou FAILED",
    ),
    "ex1.alert.outside": (
        "{file}: a planted permanent failure ended the execution FAILED, and {where} sends the failure to SNS",
        "{file}: uma falha permanente plantada terminou a execução como FAILED, e {where} manda a falha para o SNS",
    ),
    "ex1.alert.none": (
        '{file}: a planted permanent failure ended the execution {status} and published nothing: add a Catch (ErrorEquals ["States.ALL"]) to a Task state "Resource": "arn:aws:states:::sns:publish" with the failure topic\'s TopicArn, then a Fail state',
        '{file}: uma falha permanente plantada terminou a execução como {status} e não publicou nada: acrescente um Catch (ErrorEquals ["States.ALL"]) indo para um estado Task "Resource": "arn:aws:states:::sns:publish" com o TopicArn do tópico de falhas, e depois um estado Fail',
    ),
    "ex1.alert.swallowed": (
        "{file}: the alert was published, but the execution ended {status}: end the Catch branch in a Fail state, so a failed run shows as failed in the history and to the schedule",
        "{file}: o alerta foi publicado, mas a execução terminou como {status}: termine o ramo do Catch num estado Fail, para que uma execução com falha apareça como falha no histórico e no agendamento",
    ),
    "ex1.schedule.none": (
        "no schedule: add a CloudFormation template (template.yaml) with an AWS::Events::Rule whose ScheduleExpression is e.g. cron(0 6 * * ? *) and whose Targets run the AWS::StepFunctions::StateMachine of your .asl.json",
        "sem agendamento: crie um template CloudFormation (template.yaml) com um AWS::Events::Rule cujo ScheduleExpression seja por exemplo cron(0 6 * * ? *) e cujos Targets rodem o AWS::StepFunctions::StateMachine do seu .asl.json",
    ),
    "ex1.schedule.no_expression": (
        "{where} has no ScheduleExpression: a schedule is cron(...) or rate(...)",
        "{where} não tem ScheduleExpression: um agendamento é cron(...) ou rate(...)",
    ),
    "ex1.schedule.invalid": ("{where}: {error}", "{where}: {error}"),
    "ex1.schedule.disabled": (
        "{where} is DISABLED: it would never run; remove State or set it to ENABLED",
        "{where} está DISABLED: nunca rodaria; remova State ou use ENABLED",
    ),
    "ex1.schedule.no_target": (
        "{where} targets none of the template's state machines ({machines}): set Targets[].Arn to !Ref <the state machine>",
        "{where} não aponta para nenhuma state machine do template ({machines}): use Targets[].Arn: !Ref <a state machine>",
    ),
    "ex1.schedule.other_machine": (
        "{where} runs {machine}, whose definition is not {file}: point DefinitionUri at {file}",
        "{where} roda {machine}, cuja definição não é {file}: aponte DefinitionUri para {file}",
    ),
    "ex1.schedule.ok": (
        "{where}: {expression}, running the state machine of {file}",
        "{where}: {expression}, rodando a state machine de {file}",
    ),
    # -- productizing in an Airflow DAG
    "ex1.dag.not_parsed": (
        "DAG {dag!r}: Airflow did not load it (an import error?): {log}",
        "DAG {dag!r}: o Airflow não o carregou (erro de import?): {log}",
    ),
    "ex1.dag.retries_ok": (
        "DAG {dag!r}: a planted transient failure was retried by Airflow (retries={retries}, retry_delay {delay}, recorded, not waited), then the task ran on the sample",
        "DAG {dag!r}: uma falha transitória plantada foi retentada pelo Airflow (retries={retries}, retry_delay {delay}, registrado, não esperado), e então a tarefa rodou na amostra",
    ),
    "ex1.dag.no_retries": (
        "DAG {dag!r}: a planted transient failure failed the run (retries={retries}): set retries (>= 1) and retry_delay on the task or in default_args",
        "DAG {dag!r}: uma falha transitória plantada derrubou a execução (retries={retries}): defina retries (>= 1) e retry_delay na tarefa ou em default_args",
    ),
    "ex1.dag.alert_ok": (
        "DAG {dag!r}: after a planted permanent failure, Airflow called the task's on_failure_callback (its errors: {errors})",
        "DAG {dag!r}: depois de uma falha permanente plantada, o Airflow chamou o on_failure_callback da tarefa (erros dele: {errors})",
    ),
    "ex1.dag.no_alert": (
        "DAG {dag!r}: a planted permanent failure told no one: set on_failure_callback (e.g. the platform's alerts.notify_failure) on the task or in default_args",
        "DAG {dag!r}: uma falha permanente plantada não avisou ninguém: defina on_failure_callback (por exemplo alerts.notify_failure da plataforma) na tarefa ou em default_args",
    ),
    "ex1.dag.no_schedule": (
        'DAG {dag!r} has no periodic schedule ({schedule}): set schedule, e.g. a cron such as "0 7 * * *"',
        'o DAG {dag!r} não tem agendamento periódico ({schedule}): defina schedule, por exemplo um cron como "0 7 * * *"',
    ),
    "ex1.dag.schedule_ok": ("DAG {dag!r}: {schedule}", "DAG {dag!r}: {schedule}"),
}
