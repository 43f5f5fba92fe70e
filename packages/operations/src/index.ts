export * from './export-service';
