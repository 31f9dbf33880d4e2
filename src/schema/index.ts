import { ATTACHMENT_SCHEMA_TEXT, REGISTRATION_SCHEMA_TEXT } from '../gen/embedded';
import * as compiled from '../gen/validators';
import { payloadValidator } from './validate';

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

export const validateRegistration = payloadValidator<RegistrationInput>(compiled.validateRegistration);
export const validateAttachment = payloadValidator<AttachmentInput>(compiled.validateAttachment);
