import { ATTACHMENT_SCHEMA_TEXT, REGISTRATION_SCHEMA_TEXT } from '../gen/embedded';
import { compileValidator } from './validate';

export { SchemaValidationError, parseJsonObject } from './validate';
export { ATTACHMENT_SCHEMA_TEXT, REGISTRATION_SCHEMA_TEXT };

/** Registration input, as the registration schema accepts it. */
export interface RegistrationInput {
  repository: string;
  username: string;
  password: string;
}

/** Attachment input, as the attachment schema accepts it. */
export interface AttachmentInput {
  prefix?: string;
}

export const validateRegistration = compileValidator<RegistrationInput>(REGISTRATION_SCHEMA_TEXT);
export const validateAttachment = compileValidator<AttachmentInput>(ATTACHMENT_SCHEMA_TEXT);
