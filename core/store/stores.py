"""All repositories over one database, built once and passed down."""

from __future__ import annotations

from dataclasses import dataclass, fields

from core.store.api_keys import ApiKeyRepository
from core.store.attendance import AttendanceRepository
from core.store.audit import AuditRepository
from core.store.collection import Database
from core.store.datasets import DatasetRepository
from core.store.documents import DocumentRepository, StorageUsage, VersionRepository
from core.store.invitations import InvitationRepository
from core.store.jobs import JobRepository
from core.store.links import LinkRepository
from core.store.mail import MailRepository
from core.store.meetings import MeetingRepository
from core.store.messages import MeetingMessageRepository
from core.store.models_saved import SavedModelRepository
from core.store.notifications import NotificationRepository
from core.store.preferences import PreferenceRepository
from core.store.projects import ProjectRepository
from core.store.records import RecordRepository
from core.store.refresh_tokens import RefreshTokenRepository
from core.store.reminders import ReminderRepository
from core.store.schedules import ScheduleRepository
from core.store.schema import MigrationRunner
from core.store.series import SeriesRepository
from core.store.tasks import TaskRepository
from core.store.uploads import UploadRepository
from core.store.users import UserRepository
from core.store.visualizations import VisualizationRepository


@dataclass(frozen=True)
class Stores:
    db: Database
    users: UserRepository
    refresh_tokens: RefreshTokenRepository
    api_keys: ApiKeyRepository
    audit: AuditRepository
    projects: ProjectRepository
    meetings: MeetingRepository
    tasks: TaskRepository
    notifications: NotificationRepository
    messages: MeetingMessageRepository
    attendance: AttendanceRepository
    jobs: JobRepository
    uploads: UploadRepository
    datasets: DatasetRepository
    series: SeriesRepository
    reminders: ReminderRepository
    mail: MailRepository
    links: LinkRepository
    invitations: InvitationRepository
    preferences: PreferenceRepository
    schedules: ScheduleRepository
    models: SavedModelRepository
    records: RecordRepository
    visualizations: VisualizationRepository
    documents: DocumentRepository
    document_versions: VersionRepository
    storage_usage: StorageUsage

    @classmethod
    def over(cls, db: Database) -> Stores:
        return cls(
            db=db,
            users=UserRepository(db),
            refresh_tokens=RefreshTokenRepository(db),
            api_keys=ApiKeyRepository(db),
            audit=AuditRepository(db),
            projects=ProjectRepository(db),
            meetings=MeetingRepository(db),
            tasks=TaskRepository(db),
            notifications=NotificationRepository(db),
            messages=MeetingMessageRepository(db),
            attendance=AttendanceRepository(db),
            jobs=JobRepository(db),
            uploads=UploadRepository(db),
            datasets=DatasetRepository(db),
            series=SeriesRepository(db),
            reminders=ReminderRepository(db),
            mail=MailRepository(db),
            links=LinkRepository(db),
            invitations=InvitationRepository(db),
            preferences=PreferenceRepository(db),
            schedules=ScheduleRepository(db),
            models=SavedModelRepository(db),
            records=RecordRepository(db),
            visualizations=VisualizationRepository(db),
            documents=DocumentRepository(db),
            document_versions=VersionRepository(db),
            storage_usage=StorageUsage(db),
        )

    async def ensure_indexes(self) -> None:
        for f in fields(self):
            if f.name != "db":
                await getattr(self, f.name).ensure_indexes()

    def collection_names(self) -> list[str]:
        """Every collection the repositories keep documents in."""
        return [getattr(self, f.name).collection_name for f in fields(self) if f.name != "db"]

    def migrations(self) -> MigrationRunner:
        return MigrationRunner(self.db, self.collection_names())

    async def ping(self) -> None:
        await self.db.ping()
